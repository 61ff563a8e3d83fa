# Latency percentiles per backend as clustered bars (from the CSV's p50/p90/p99/p99.9 columns).
# Reads latency-pct.csv written by make-report.py: backend,p50,p90,p99,p999,max
load dir."common.gp"
set title sprintf("One-way latency percentiles, %d-byte messages, batch %d", size, batch)
set ylabel "one-way latency (log scale)"
set xlabel "backend"
set logscale y 10
eval "set ytics ".ns_tics
# start the axis at a labelled decade below the shortest bar
stats csv skip 1 using 2 nooutput
if (STATS_min > 0) set yrange [0.999 * 10.0**floor(log10(STATS_min)):*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left inside box opaque
set xtics nomirror
plot csv skip 1 using 2:xtic(1) title "p50" lc rgb "#9ecae1", \
     '' skip 1 using 3 title "p90" lc rgb "#6baed6", \
     '' skip 1 using 4 title "p99" lc rgb "#3182bd", \
     '' skip 1 using 5 title "p99.9" lc rgb "#08519c"
