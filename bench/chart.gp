# Draws results.png from the two data files report.py writes.
# Variables (gnuplot -e): speed, mem (data files: a header of quoted column
# titles, then one row per workload, "-" where a runtime has no result),
# out (PNG path), n (number of runtimes), colors (one per runtime), subtitle,
# with_mem (0: mem has no rows; the speed panel then fills the picture).
set terminal pngcairo size 1200,860 font "DejaVu Sans,11" noenhanced
set output out
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb "#404040"
set boxwidth 0.9
set key outside right top vertical samplen 1.5 spacing 1.2
set grid ytics lc rgb "#d0d0d0"
set border 3
set xtics nomirror scale 0
set ytics nomirror

set multiplot title "asyncio for Lua (aio) beside its peers — " . subtitle font ",13"

if (with_mem) { set size 1, 0.60; set origin 0, 0.38 } else { set size 1, 0.95; set origin 0, 0 }
set title "Relative speed per workload: 1 = fastest runtime in this run, higher is better\n(spawn tasks/s, switch ns/yield, pingpong round trips/s, timers wall time, queue items/s, echo server CPU/request)"
set ylabel "relative speed"
set yrange [0:1.08]
set ytics 0.2
plot for [i=2:n+1] speed using i:xtic(1) title columnheader(i) lc rgb word(colors, i-1)

if (!with_mem) { unset multiplot; exit }
set size 1, 0.38
set origin 0, 0
set title "Peak memory per task (bytes; lower is better)"
set ylabel "bytes per task"
set yrange [0:*]
set ytics autofreq
plot for [i=2:n+1] mem using i:xtic(1) title columnheader(i) lc rgb word(colors, i-1)

unset multiplot
