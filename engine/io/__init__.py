"""steeltwin result files and plots (HDF5 via h5py, matplotlib); outside the physics core.

``write_result`` / ``read_result`` store and load one run in the self-describing layout
documented in ``_hdf5``; ``plot_result`` draws the standard figures from the same mapping.
"""

from ._hdf5 import (
    SCHEMA,
    SCHEMA_VERSION,
    code_version,
    face_kinds,
    read_result,
    result_arrays,
    write_result,
)
from ._plots import plot_field, plot_result, plot_stress, plot_temperatures
from ._series import centre_cells, series

__all__ = [
    "SCHEMA", "SCHEMA_VERSION", "centre_cells", "code_version", "face_kinds", "plot_field",
    "plot_result", "plot_stress", "plot_temperatures", "read_result", "result_arrays", "series",
    "write_result",
]
