"""Research code on top of the plugin: model comparisons, the paper's analyses, tuning, and their reports."""
