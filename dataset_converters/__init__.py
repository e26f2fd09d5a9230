"""Converters from public raw logs to RecBole atomic files for DCR.

Each dataset has one script (``kwai.py``, ``wechat.py``, ``kuairand.py``) that
only describes what is specific to its raw format; everything shared (reading
and validating tables, binning the confounder, the leakage-free split, the
Table 1 statistics and the all-or-nothing output) lives in ``common.py``.
"""
