/* plot.h: figures through gnuplot, each written as a re-plottable triple in one directory:
 *   NAME.dat  the data, in blocks separated by two blank lines ("# [index N] what" heads each
 *             block; select one in gnuplot with `index N`); images are "x y value" lines with a
 *             blank line after each row; NaN marks a missing value;
 *   NAME.gp   the gnuplot script; `cd DIR && gnuplot NAME.gp` renders NAME.png (pngcairo) and the
 *             vector copy (NAME.svg or NAME.pdf) again;
 *   NAME.png  + NAME.svg|pdf, rendered by running gnuplot as a subprocess in DIR.
 * When the gnuplot program cannot be run, the data and scripts are still written and one warning
 * says so. A gnuplot that exits non-zero or prints anything gets a warning with its first line; its
 * full output is kept in NAME.gnuplot.log.
 */
#ifndef TDANN_PLOT_H
#define TDANN_PLOT_H

#include <stdio.h>

#include "error.h"

typedef struct {
    char *dir, *name;
    FILE *dat, *gp;
    int nblocks, has_data;
} Plot;

/* vector: 0 svg, 1 pdf, 2 none (maps.h VEC_*). width/height in pixels of the PNG. */
Plot *plot_open(const char *dir, const char *name, const char *title, int width_px, int height_px, int vector);
/* Starts a data block; returns its index for `index N`. */
int plot_block(Plot *p, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Appends to the data file / to the plotting body of the script. */
void plot_data(Plot *p, const char *fmt, ...) PRINTF_LIKE(2, 3);
void plot_cmd(Plot *p, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Formats a value for the data file: "NaN" for non-finite values, else %.6g. buf >= 32 bytes. */
const char *plot_num(char *buf, double v);
/* Closes both files and renders with gnuplot_cmd. Returns 0 rendered, 1 gnuplot failed, 2 gnuplot
 * not available (nothing rendered). */
int plot_close(Plot *p, const char *gnuplot_cmd);
/* Quotes s for a gnuplot double-quoted string (escapes " and \). Static buffer, one per call site. */
const char *plot_q(const char *s, char *buf, size_t len);

#endif
