"""Page-access traces: generated workloads, valgrind lackey logs and DAMON records."""
