/* delaunay.h: 2-D Delaunay triangulation and the area of an alpha shape (concave hull), for the
 * patch areas of the VTC analysis (tdann-algorithm.md §6.2: "area of a concave hull (alpha shape,
 * alpha = 0.1) of member units").
 *
 * Triangulation: Bowyer-Watson insertion with a visibility walk for point location, points
 * inserted in a snake order over a coarse grid so walks stay short (about O(n log n) in practice).
 * Exact duplicate points are inserted once. Plain double-precision predicates (no exact
 * arithmetic): fine for jittered unit positions; four exactly co-circular points may give either
 * diagonal, which changes no area.
 *
 * Alpha shape, with the semantics of the Python `alphashape` package that the official code calls
 * (alphashape(points, alpha) with alpha = 1 / radius): keep every Delaunay triangle whose
 * circumradius is < 1/alpha; the shape is the union of the polygons bounded by the kept triangles'
 * perimeter edges (shapely polygonize + unary_union), which fills holes. So
 *     area = sum of kept triangle areas + area of every "hole": a connected set (across shared
 *            edges) of non-kept triangles that does not reach the convex hull.
 * alpha <= 0 gives the convex hull area. Fewer than 3 non-collinear points: area 0.
 */
#ifndef TDANN_DELAUNAY_H
#define TDANN_DELAUNAY_H

typedef struct {
    int n_tri;
    int *v;  /* [n_tri][3] vertex indices into the input, counter-clockwise */
    int *nb; /* [n_tri][3] triangle across the edge opposite v[i]; -1 on the convex hull */
} Triangulation;

/* xy: [n][2]. Returns the number of triangles (0 when fewer than 3 non-collinear points). */
int delaunay_triangulate(const double *xy, int n, Triangulation *t);
void triangulation_free(Triangulation *t);

double tri_circumradius(const double *a, const double *b, const double *c); /* inf if degenerate */

/* Area of the alpha shape of xy [n][2] (see above); optionally the number of kept triangles. */
double alpha_shape_area(const double *xy, int n, double alpha, int *n_kept);

#endif
