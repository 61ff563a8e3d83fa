# One-way latency distribution (timestamp in the payload, read at the peer) for each backend.
# Reads latency-cdf.csv written by make-report.py: backend,ns,fraction
load dir."common.gp"
set title sprintf("One-way latency CDF, %d-byte messages, batch %d", size, batch)
set xlabel "one-way latency (log scale)"
set ylabel "fraction of messages at or below"
set logscale x 10
eval "set xtics ".ns_tics
set yrange [0:1.02]
set key right bottom inside box opaque
plot for [b in backends] csv skip 1 using (strcol(1) eq b ? column(2) : NaN):(column(3)) \
     with steps lw 2 lc rgb color(b) title b
