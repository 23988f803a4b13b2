"""steeltwin result files and plots (HDF5 via h5py, matplotlib); outside the physics core.

``write_result`` / ``read_result`` store and load one run in the self-describing layout
documented in ``_hdf5``; ``plot_result`` draws the standard figures from the same mapping.
``write_header`` / ``put`` / ``scale`` / ``atomic_file``: the one HDF5 writer (schema header,
units, config, dimension scales) that results, dataset shards and twin estimates share.
"""

from ._h5file import atomic_file, attach, code_version, put, scale, strings, write_header
from ._hdf5 import (
    SCHEMA,
    SCHEMA_VERSION,
    face_kinds,
    read_result,
    result_arrays,
    write_result,
)
from ._plots import plot_field, plot_result, plot_stress, plot_temperatures
from ._series import centre_cells, series
from ._twin_plots import plot_estimate

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "atomic_file",
    "attach",
    "centre_cells",
    "code_version",
    "face_kinds",
    "plot_estimate",
    "plot_field",
    "plot_result",
    "plot_stress",
    "plot_temperatures",
    "put",
    "read_result",
    "result_arrays",
    "scale",
    "series",
    "strings",
    "write_header",
    "write_result",
]
