# Message rate against batch size (messages per sendmmsg / burst) at one message size.
# gnuplot -e "csv='bench.csv'; out='x.png'; backends='...'; size=64" throughput_batch.gp
load dir."common.gp"
set title sprintf("Message rate against batch size, %d-byte messages", size)
set xlabel "batch (messages per call, log scale)"
set ylabel "messages per second (log scale)"
set logscale x 2
set logscale y 10
set format y "%.0s%c"
plot for [b in backends] csv skip 1 using (strcol(C_BACKEND) eq b && column(C_SIZE) == size ? column(C_BATCH) : NaN):(column(C_MSGS)) \
     smooth unique with linespoints lw 2 pt 7 lc rgb color(b) title b
