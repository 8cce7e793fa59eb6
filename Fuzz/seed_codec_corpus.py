#!/usr/bin/env python3
"""Writes a seed corpus for KafkaCodecFuzzer: one file per frame of the recorded fixtures and of the hand-encoded
newest-version frames (Tests/KafkaCodecTests/Fixtures/*.frames), in the fuzzer's input format.

The fuzzer decodes each frame of its input as a request, and as a response to the key and version its first four
bytes name; so a request is seeded as it was recorded, and a response with its key and version in front.

    python3 Fuzz/seed_codec_corpus.py DIRECTORY
"""
import struct
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "Tests" / "KafkaCodecTests" / "Fixtures"


def seeds():
    for path in sorted(FIXTURES.glob("*.frames")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "req" and len(words) == 2:
                yield "%s-%d" % (path.stem, number), bytes.fromhex(words[1])
            elif words[0] == "res" and len(words) == 4:
                payload = bytes.fromhex(words[3])[4:]
                head = struct.pack(">hh", int(words[1]), int(words[2]))
                yield "%s-%d" % (path.stem, number), struct.pack(">i", len(head) + len(payload)) + head + payload
            else:
                sys.exit("%s:%d: not a frame line" % (path, number))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seed_codec_corpus.py DIRECTORY")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, data in seeds():
        (out / name).write_bytes(data)
        count += 1
    print("%d seeds in %s" % (count, out))


if __name__ == "__main__":
    main()
