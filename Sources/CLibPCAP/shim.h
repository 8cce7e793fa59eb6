#ifndef KAFKASCOPE_CLIBPCAP_SHIM_H
#define KAFKASCOPE_CLIBPCAP_SHIM_H
#include <pcap/pcap.h>
#include <stdio_ext.h>
#endif
