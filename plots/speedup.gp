# Speed-up of each sendpath path over its kernel counterpart, against message size.
# Reads speedup.csv written by make-report.py: pair,size,batch,speedup (pair = "sendpath-udp / kernel-udp").
# gnuplot -e "csv='speedup.csv'; out='x.png'; pairs='...'; batch=32" speedup.gp
load dir."common.gp"
if (!exists("ytitle")) ytitle = "Speed-up"
set title sprintf("%s, messages per second, batch %d", ytitle, batch)
set xlabel "message size (bytes, log scale)"
set ylabel "ratio of messages/s (log scale; 1 = equal)"
set logscale x 2
set logscale y 10
set xtics ("16" 16, "64" 64, "256" 256, "1K" 1024, "4K" 4096, "16K" 16384, "64K" 65536)
# the largest UDP datagram (65507) stops short of the 64K tic: reach it
set xrange [*:65536<*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#888888" dt 2
pc(i) = (i == 1) ? 0xd62728 : (i == 2) ? 0x1f77b4 : (i == 3) ? 0x9467bd : 0x7f7f7f
plot for [i=1:words(pairs)] csv skip 1 using (strcol(1) eq word(pairs, i) && column(3) == batch ? column(2) : NaN):(column(4)) \
     smooth unique with linespoints lw 2 pt 7 lc rgb pc(i) title word(pairs, i)
