"""pcap_bench's measurement: every capture run through kafkascope and tshark, timed on the wall clock, with peak
RSS, CPU and the machine's other load, and the Kafka frames each tool counted."""
import contextlib
import os
import re
import signal
import threading
import time
from pathlib import Path

from bench_support import MB, BenchError, fmt, logger, machine_busy_seconds, proc_status, rotated, tail
from pcap_load import DERIVED

log = logger("pcap_bench")
MIB = 1024 * 1024
EMPTY = "empty"                              # a capture with no packets: each tool's start-up cost


def binary_stamp(path):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def warm_cache(path):
    """Read the file once so that every timed run reads it from the page cache."""
    with open(path, "rb") as f:
        while f.read(8 * MIB):
            pass


def wait_exactly(proc, timeout, name):
    """Wait for proc to exit and return at once when it does. (Popen.wait(timeout) polls with sleeps of up to
    50 ms, which would add up to 50 ms to a run that takes 0.1 s.) A timer kills its process group on timeout."""
    expired = []

    def kill():
        expired.append(True)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    if expired:
        raise BenchError("%s took more than %.0f s" % (name, timeout))


def measure(procs, tools, name, argv, out_path, timeout):
    """Run argv with stdout to out_path; wall seconds (perf_counter around the run), peak RSS in KiB, CPU seconds
    and the other processes' load meanwhile (in cores)."""
    err_path = Path(str(out_path) + ".err")
    timefile = Path(str(out_path) + ".time")
    busy0 = machine_busy_seconds()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        if tools["time"]:
            t0 = time.perf_counter()
            proc = procs.spawn(name, [tools["time"], "-f", "%M %U %S", "-o", str(timefile)] + argv, stdout=out,
                               stderr=err)
            wait_exactly(proc, timeout, name)
            wall = time.perf_counter() - t0
            procs.forget(proc)
            code = proc.returncode
            fields = timefile.read_text().split() if timefile.exists() else []
            try:
                rss_kib, cpu = int(fields[-3]), float(fields[-2]) + float(fields[-1])
            except (IndexError, ValueError):
                raise BenchError("%s: cannot read /usr/bin/time's output %r" % (name, fields))
        else:
            # fallback: poll VmHWM (peak RSS) while it runs; the last reading before exit is a lower bound
            t0 = time.perf_counter()
            proc = procs.spawn(name, argv, stdout=out, stderr=err)
            rss_kib, status, usage = 0, None, None
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                rss_kib = max(rss_kib, proc_status(proc.pid, "VmHWM") or 0)
                if time.perf_counter() - t0 > timeout:
                    procs.stop(proc)
                    raise BenchError("%s took more than %.0f s" % (name, timeout))
                time.sleep(0.005)
            wall = time.perf_counter() - t0
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            procs.forget(proc)
            cpu = usage.ru_utime + usage.ru_stime
    busy = machine_busy_seconds() - busy0
    if code != 0:
        raise BenchError("%s exited with code %s: %s\nstderr: %s" % (name, code, " ".join(argv), tail(err_path)))
    # /proc/stat counts in 10 ms ticks: on runs shorter than 0.5 s the estimate is mostly rounding, so none
    other = max(0.0, busy - cpu) / wall if wall >= 0.5 else None
    return {"wall": wall, "rss_kib": rss_kib, "cpu": cpu, "other_cores": other}


def kafkascope_frames(out_path):
    """`  frames  N` (and packets, unanswered, gaps) from the summary's totals."""
    text = Path(out_path).read_text(errors="replace")
    totals = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^\s+([a-z_]+)\s+(\d+)\s*$", text, re.M))
    if "frames" not in totals:
        raise BenchError("no '  frames  N' line in kafkascope's summary (%s):\n%s" % (out_path, text[-2000:]))
    return totals


def tshark_frames(out_path):
    """One line per packet that holds Kafka; a packet with several Kafka PDUs lists their fields comma-separated.
    Frames = number of correlation ids over all lines."""
    lines = frames = 0
    with open(out_path, "rb") as f:
        for line in f:
            lines += 1
            cols = line.rstrip(b"\n").split(b"\t")
            if len(cols) >= 2 and cols[1]:
                frames += cols[1].count(b",") + 1
    return {"frames": frames, "lines": lines}


def bench(procs, tools, args, capdir, meta, workdir, x2_paths):
    """Every (capture, tool) --repeats times, the tools' order rotated each repetition; "baseline" is the
    --baseline build, when given."""
    baseline = ["baseline"] if tools.get("baseline") else []
    jobs = {EMPTY: ["kafkascope", "tshark"] + baseline, "frame-heavy": ["kafkascope", "tshark"] + baseline,
            "bulk": ["kafkascope", "tshark", "kafkascope-x2"] + baseline}
    # the start-up baseline: a capture with the frame-heavy file's header and no packets
    with open(capdir / "frame-heavy.pcap", "rb") as f, open(workdir / "empty.pcap", "wb") as out:
        out.write(f.read(24))
    runs = []
    stamp = binary_stamp(tools["kafkascope"])
    changed = False
    for cap, tool_names in jobs.items():
        base = workdir / "empty.pcap" if cap == EMPTY else capdir / ("%s.pcap" % cap)
        files = {"kafkascope": base, "tshark": base, "baseline": base, "kafkascope-x2": x2_paths[DERIVED]}
        for path in set(files[t] for t in tool_names):
            warm_cache(path)
        port = meta["frame-heavy" if cap == EMPTY else cap]["port"]
        for rep in range(args.repeats):
            for tool in rotated(tool_names, rep):
                path = files[tool]
                out = workdir / ("%s.%s.%d.out" % (cap, tool, rep))
                if tool != "tshark":
                    argv = [tools["baseline" if tool == "baseline" else "kafkascope"], "pcap", str(path), "--port", str(port), "--format", "summary",
                            "--no-progress"] + (["--threads", str(args.threads)] if args.threads else [])
                else:
                    argv = [tools["tshark"], "-r", str(path), "-d", "tcp.port==%d,kafka" % port, "-Y", "kafka",
                            "-T", "fields", "-e", "kafka.api_key", "-e", "kafka.correlation_id"]
                if tool.startswith("kafkascope") and binary_stamp(tools["kafkascope"]) != stamp:
                    changed = True
                    log("warning: %s changed on disk during the benchmark" % tools["kafkascope"])
                r = measure(procs, tools, "%s-%s-%d" % (cap, tool, rep), argv, out, args.run_timeout)
                r.update(capture=cap if tool != "kafkascope-x2" else DERIVED, rep=rep, bytes=path.stat().st_size)
                r.update((tshark_frames if tool == "tshark" else kafkascope_frames)(out))
                r["tool"] = tool if tool in ("tshark", "baseline") else "kafkascope"
                with contextlib.suppress(OSError):
                    out.unlink()
                runs.append(r)
                log("%s %s #%d: %.3f s, %d frames, %.0f frames/s, %.1f MB/s, peak RSS %.1f MiB, other load %s "
                    "cores" % (r["capture"], r["tool"], rep + 1, r["wall"], r["frames"], r["frames"] / r["wall"],
                               r["bytes"] / MB / r["wall"], r["rss_kib"] / 1024, fmt(r["other_cores"], ".2f")))
    return runs, changed
