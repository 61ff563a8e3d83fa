# Shared by the plots: terminal from fmt ("png" or "svg"), output file, one look.
# Variables set by the caller (plots/make-report.py, or by hand with -e):
#   csv, out, fmt, caption (machine description), backends (space separated)
if (!exists("fmt")) fmt = "png"
if (!exists("caption")) caption = ""
if (fmt eq "svg") {
    set terminal svg size 900,560 dynamic font "sans,12" background "white"
} else {
    set terminal pngcairo size 900,560 font "sans,10" background "white"
}
set output out
set datafile separator ","
# rows of other series evaluate to NaN: skipped, and the line goes on across them
set datafile missing NaN
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key outside right top box opaque
set border lw 1
set bmargin 6
set label 99 caption at screen 0.01, screen 0.02 left font ",8" textcolor rgb "#555555"
# one colour per backend, the same in every plot
color(b) = (b eq "sendpath-vsock") ? 0xd62728 : (b eq "sendpath-udp") ? 0x1f77b4 : \
           (b eq "kernel-udp") ? 0x2ca02c : (b eq "kernel-vsock") ? 0x9467bd : \
           (b eq "dpdk-txonly") ? 0x7f7f7f : 0xff7f0e
# CSV contract columns (docs/benchmarks.md)
C_BACKEND = 1; C_SIZE = 2; C_BATCH = 3; C_MSGS = 4; C_GBIT = 5; C_NS = 6
C_P50 = 8; C_P99 = 9; C_P999 = 10; C_MAX = 11; C_P90 = 14
# latency axes in the unit a reader expects at each decade
ns_tics = '("10 ns" 10, "100 ns" 100, "1 µs" 1e3, "10 µs" 1e4, "100 µs" 1e5, "1 ms" 1e6, "10 ms" 1e7, "100 ms" 1e8, "1 s" 1e9, "10 s" 1e10)'
