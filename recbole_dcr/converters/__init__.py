"""Converters from public raw logs (Kwai, Wechat, KuaiRand) to RecBole atomic files for DCR.

A dataset module (:mod:`.kwai`, :mod:`.wechat`, :mod:`.kuairand`) declares a
:class:`~.spec.DatasetSpec` and a ``load`` function that reads its raw files with
:func:`.read.read_table` and returns one row per logged sample (:class:`~.spec.LoadedData`).
:func:`.cli.convert` (behind :func:`.cli.main`, the command line) then

1. drops rows whose duration is missing (and counts them),
2. merges repeated (user, item) rows (or keeps them together, ``--duplicates keep``),
3. splits the (user, item) pairs at random with a seed, so that every pair
   lands in exactly one of train / valid / test (the paper's leakage rule),
4. discretizes the duration into K equal-frequency bins whose edges are fitted
   on the items of the training split only,
5. computes the statistics of the paper's Table 1, and
6. writes the RecBole atomic files, the dataset config, the statistics and the
   bin edges into a temporary folder that is renamed into place only when
   everything succeeded, so a failed run never leaves half a dataset behind.

Steps 1-5 are :func:`.build.build`, step 6 is :mod:`.write`. Problems with the
user's input raise :class:`.errors.ConversionError`, whose message names the
file, the column or line, and the fix; the command line prints it without a
traceback and exits with status 2.

Nothing here imports torch or RecBole: converting needs only numpy, pandas,
tqdm and PyYAML. The submodules are imported on demand
(``from recbole_dcr.converters import kwai``).
"""
