"""The simulator checked against the real kernel: a two-node guest under QEMU, and the comparison."""
