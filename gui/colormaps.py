"""The colormaps the layer views share, with their 256-entry lookup tables made once at import."""
import pyqtgraph as pg

SEQUENTIAL = pg.colormap.get("viridis")
DIVERGING = pg.colormap.get("CET-D1")
GRAY = pg.colormap.get("CET-L1")
SEQUENTIAL_LUT = SEQUENTIAL.getLookupTable(nPts=256, alpha=False)
DIVERGING_LUT = DIVERGING.getLookupTable(nPts=256, alpha=False)
GRAY_LUT = GRAY.getLookupTable(nPts=256, alpha=False)
