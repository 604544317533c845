# Chart for bench/RESULTS.md, called by bench/run:
#   gnuplot -e "datadir='DIR'; outfile='results.png'; modes='pinned shared'; latmax_pinned=3; latmax_shared=5" bench/chart.gp
# DIR holds MODE-PANEL.dat files: a label, then median/min/max for each target in the order
# tcpproxy, haproxy-splice, haproxy-copy, nginx-stream, direct. Bars are medians, whiskers min–max.
# One column per mode, one row per metric.

ncols = words(modes)
set terminal pngcairo size (ncols * 900 + 40),2500 font "DejaVu Sans,14" noenhanced
set output outfile
set datafile missing "NaN"
set style data histograms
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#cccccc"
set yrange [0:*]
set xtics nomirror scale 0
set ytics nomirror
set border 3
set lmargin 10

c1 = "#d62728"   # tcpproxy
c2 = "#1f77b4"   # haproxy-splice
c3 = "#9ecae1"   # haproxy-copy
c4 = "#2ca02c"   # nginx-stream
c5 = "#7f7f7f"   # direct

set multiplot layout 7,ncols columnsfirst title "tcpproxy vs HAProxy and nginx stream, loopback, same backends (bars: median of the rounds; whiskers: min–max)" font ",18"

do for [mode in modes] {
    f(p) = sprintf("%s/%s-%s.dat", datadir, mode, p)
    head = (mode eq "pinned") ? "1 WORKER PINNED TO CPU 1 (load on CPU 0)" : "2 WORKERS, UNPINNED"

    set key top right horizontal font ",12" samplen 1.5 width 1 maxrows 1
    set title sprintf("%s\n\nbulk throughput (iperf3), Gbit/s, higher is better", head) font ",15"
    set offsets 0, 0, graph 0.15, 0
    plot f("bulk") using 2:3:4:xtic(1) title "tcpproxy" lc rgb c1, \
         '' using 5:6:7 title "HAProxy splice" lc rgb c2, \
         '' using 8:9:10 title "HAProxy copy" lc rgb c3, \
         '' using 11:12:13 title "nginx stream" lc rgb c4, \
         '' using 14:15:16 title "direct (no proxy)" lc rgb c5
    unset key
    set offsets 0, 0, 0, 0

    set title "proxy CPU-seconds per GB moved, lower is better" font ",14"
    plot f("cpugb") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4

    set title "new connections per second, thousands (wrk, Connection: close), higher is better"
    plot f("conns") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4, '' using 14:15:16 lc rgb c5

    set title "kept-alive requests per second, thousands (wrk, 50 connections), higher is better"
    plot f("reqs") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4, '' using 14:15:16 lc rgb c5

    set title "proxy CPU-microseconds, lower is better"
    plot f("cpuus") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4

    set title "kept-alive latency (wrk), ms, lower is better (axis cut at 2x the top median p99)"
    set yrange [0:value(sprintf("latmax_%s", mode))]
    plot f("lat") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4, '' using 14:15:16 lc rgb c5
    set yrange [0:*]

    set title "proxy RSS growth per idle connection, bytes (goal: at most 1024)"
    plot f("idle") using 2:3:4:xtic(1) lc rgb c1, '' using 5:6:7 lc rgb c2, \
         '' using 8:9:10 lc rgb c3, '' using 11:12:13 lc rgb c4, 1024 notitle dt 2 lc rgb "black"
}
unset multiplot
