# Throughput against message size at one batch size, one line per backend.
# gnuplot -e "csv='bench.csv'; out='x.png'; backends='kernel-udp dpdk-txonly'; batch=32; metric='msgs'" throughput_size.gp
load dir."common.gp"
if (!exists("metric")) metric = "msgs"
col = (metric eq "gbit") ? C_GBIT : C_MSGS
set title sprintf("%s against message size, batch %d", (metric eq "gbit") ? "Payload throughput" : "Message rate", batch)
set xlabel "message size (bytes, log scale)"
set ylabel (metric eq "gbit") ? "payload throughput (Gbit/s, log scale)" : "messages per second (log scale)"
set logscale x 2
set logscale y 10
set xtics ("16" 16, "64" 64, "256" 256, "1K" 1024, "4K" 4096, "16K" 16384, "64K" 65536)
# the largest UDP datagram (65507) stops short of the 64K tic: reach it
set xrange [*:65536<*]
# Gbit/s as plain decimals (0.01, not "10.0m"); rates with SI prefixes (10k, 1M)
set format y (metric eq "gbit") ? "%g" : "%.0s%c"
plot for [b in backends] csv skip 1 using (strcol(C_BACKEND) eq b && column(C_BATCH) == batch ? column(C_SIZE) : NaN):(column(col)) \
     smooth unique with linespoints lw 2 pt 7 lc rgb color(b) title b
