# bench/chart.gp: the chart of bench/run, drawn with gnuplot.
# bench/run sets, in a file read before this one:
#   data      a file with a line a command: "name" median p25 p75 group
#             (group 1: a bare /bin/true, 2: a stage, 3: another runtime)
#   output    the PNG to write
#   subtitle  the machine it was measured on
# Usage: gnuplot VARS.gp bench/chart.gp

set terminal pngcairo size 1100,620 font "DejaVu Sans,11" noenhanced
set output output

set title "mini-docker: what 'run /bin/true' costs, stage by stage\n" . subtitle
set ylabel "milliseconds (median; bars p25–p75; log scale)"
# runc takes ten times what the rest take: a log scale keeps all legible,
# and each bar carries its number.
set logscale y
set yrange [0.5:*]
set grid ytics mytics lc rgb "#dddddd"
set border 3
set xtics nomirror rotate by -25 scale 0
set ytics nomirror
set key off
set style fill solid 0.85 border -1
set boxwidth 0.7

color(group) = group == 1 ? 0x999999 : group == 2 ? 0x3366cc : 0xdd7733
label(ms) = ms >= 100 ? sprintf("%.0f", ms) : sprintf("%.1f", ms)

# A legend of the colours, as labels (a key would list the three plots).
set label 1 "■ a bare /bin/true" at graph 0.02, 0.95 tc rgb "#999999"
set label 2 "■ the kit's stages" at graph 0.02, 0.90 tc rgb "#3366cc"
set label 3 "■ other runtimes" at graph 0.02, 0.85 tc rgb "#dd7733"

plot data using 0:2:(color($5)):xtic(1) with boxes lc rgb variable, \
     data using 0:3:(0):($4 - $3) with vectors heads size 0.08,90 lc rgb "#222222", \
     data using 0:4:(label($2)) with labels offset 0,0.9
