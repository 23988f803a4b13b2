"""Exit statuses shared by every steeltwin command-line app (simulate, datagen, train,
evaluate, twin, serve).

0: done. 2: the config (or an input file it names) is invalid and nothing was computed; the
message names the key, the value and the fix. 1: anything else (a failure while computing).
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
