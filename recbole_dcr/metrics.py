"""Ranking metrics the paper reports that RecBole lacks, as RecBole metric classes.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
sec. 5.1.4 and Table 2; the authors' evaluation code (``utils.test2``, which made the tables)
divides a user's hits by min(``|R(u)|``, K), so a user with fewer positives than K can reach Recall 1.
RecBole's ``Recall`` divides by ``|R(u)|``.  Importing this module registers the classes with RecBole
(:func:`recbole_dcr.compat.register_metric`), so ``metrics: [CappedRecall]`` works like any metric.
"""

import numpy as np
from recbole.evaluator.base_metric import TopkMetric

from recbole_dcr.compat import register_metric


class CappedRecall(TopkMetric):
    r"""Recall capped by the list length: the paper's Recall@K.

    .. math::
       \mathrm{CappedRecall@K} = \frac{1}{|U|}\sum_{u \in U} \frac{|\hat{R}_K(u) \cap R(u)|}{\min(|R(u)|, K)}
    """

    def calculate_metric(self, dataobject):
        pos_index, pos_len = self.used_info(dataobject)
        return self.topk_result("cappedrecall", self.metric_info(pos_index, pos_len))

    def metric_info(self, pos_index, pos_len):
        cutoffs = np.arange(1, pos_index.shape[1] + 1)
        return np.cumsum(pos_index, axis=1) / np.minimum(pos_len.reshape(-1, 1), cutoffs)


register_metric(CappedRecall)
