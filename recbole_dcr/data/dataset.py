"""A RecBole dataset with a training label, an evaluation label and a confounding feature.

The training split is fit on ``TRAIN_LABEL_FIELD`` (RecBole's ``LABEL_FIELD``), valid/test rows are
ranked on ``EVAL_LABEL_FIELD``, and ``CONFOUNDER_FIELD`` is the discrete item (or interaction)
feature A whose training frequencies give P(a) (eq. 2 of the DCR paper).  Bad data is refused
at load time with one message naming the file, the column and the fix.
"""

import hashlib
import os

import numpy as np
import pandas as pd
import torch
from recbole.utils import FeatureType

from recbole_dcr.compat import DatasetBase


JOINT_SEPARATOR = "+"  # name of the joint field of several confounders: "duration_level+cover_level"


class DatasetError(ValueError):
    """Atomic files that recbole_dcr cannot use; the message says which file, column and fix."""


CONVERTER_HINT = (
    "recbole_dcr never downloads data: create the atomic files with a converter, e.g. "
    "`recbole-dcr convert kwai --raw RAW_DIR --out {data_path}` (see dataset_converters/README.md), "
    "or set data_path to the folder that holds <dataset>/ (dataset name 'dcr_sim' is generated automatically)."
)


class DCRDataset(DatasetBase):
    """RecBole ``Dataset`` that knows ``TRAIN_LABEL_FIELD``, ``EVAL_LABEL_FIELD`` and ``CONFOUNDER_FIELD``."""

    def _get_field_from_config(self):
        super()._get_field_from_config()
        self.train_label_field = self.config["LABEL_FIELD"]
        self.eval_label_field = self.config["EVAL_LABEL_FIELD"] or self.train_label_field
        # Several confounders are adjusted for jointly: their observed combinations form one field.
        listed = self.config["CONFOUNDER_FIELD"]
        self.confounder_components = list(listed) if isinstance(listed, (list, tuple)) else [listed]
        self.confounder_field = (
            JOINT_SEPARATOR.join(self.confounder_components) if len(self.confounder_components) > 1 else listed
        )
        labels_as_features = {self.train_label_field, self.eval_label_field} & set(self.config["numerical_features"] or [])
        if labels_as_features:
            raise DatasetError(
                f"numerical_features lists the label field(s) {sorted(labels_as_features)}; labels are never model "
                f"inputs. Fix: remove them from numerical_features."
            )

    # ------------------------------------------------------------------ loading and validation
    def _inter_files(self, token, dataset_path):
        if self.benchmark_filename_list is None:
            return [os.path.join(dataset_path, f"{token}.inter")]
        return [os.path.join(dataset_path, f"{token}.{part}.inter") for part in self.benchmark_filename_list]

    def _load_data(self, token, dataset_path):
        missing = [path for path in self._inter_files(token, dataset_path) if not os.path.isfile(path)]
        if missing:
            raise DatasetError(
                f"dataset '{token}': missing atomic file(s) {', '.join(missing)}. "
                + CONVERTER_HINT.format(data_path=os.path.dirname(os.path.abspath(dataset_path)))
            )
        super()._load_data(token, dataset_path)
        self._validate_raw_features(token, dataset_path)

    def _validate_raw_features(self, token, dataset_path):
        inter_files = self._inter_files(token, dataset_path)
        inter_name = " / ".join(inter_files)
        for key, field in (("TRAIN_LABEL_FIELD", self.train_label_field), ("EVAL_LABEL_FIELD", self.eval_label_field)):
            if field not in self.inter_feat:
                raise DatasetError(
                    f"{inter_name}: no column '{field}' ({key}). Columns loaded: {list(self.inter_feat.columns)}. "
                    f"Fix: add the column to the header as '{field}:float', set {key} to an existing 0/1 column, "
                    f"or check load_col."
                )
            if self.field2type[field] != FeatureType.FLOAT:
                raise DatasetError(
                    f"{inter_name}: column '{field}' ({key}) is declared ':{self.field2type[field].value}'. "
                    f"Fix: declare it as '{field}:float' with values 0 and 1."
                )
            self._check_binary(field, key, inter_files)

        if None in self.confounder_components or not self.confounder_components:
            raise DatasetError("CONFOUNDER_FIELD is not set. Fix: name the token field of the confounding feature.")
        item_file = os.path.join(dataset_path, f"{token}.item")
        places = {}
        for conf in self.confounder_components:
            if conf in self.inter_feat:
                places[conf] = inter_name
            elif self.item_feat is not None and conf in self.item_feat:
                places[conf] = item_file
            else:
                raise DatasetError(
                    f"{inter_name} and {item_file}: no column '{conf}' (CONFOUNDER_FIELD). Fix: add it as "
                    f"'{conf}:token' to {os.path.basename(item_file)} (or the .inter files), or set CONFOUNDER_FIELD "
                    f"to an existing token field."
                )
            if self.field2type[conf] != FeatureType.TOKEN:
                raise DatasetError(
                    f"{places[conf]}: column '{conf}' (CONFOUNDER_FIELD) is declared ':{self.field2type[conf].value}'; "
                    f"DCR needs a discrete confounder. Fix: discretize it into K bins and declare it '{conf}:token'."
                )
        if len(set(places.values())) > 1:
            raise DatasetError(
                f"CONFOUNDER_FIELD {self.confounder_components}: {places} — several confounders must all be item "
                f"fields or all interaction fields. Fix: move them into the same file."
            )
        self._confounder_file = next(iter(places.values()))
        if len(self.confounder_components) > 1:
            self._add_joint_confounder(self.inter_feat if self._confounder_file == inter_name else self.item_feat)

    def _add_joint_confounder(self, feat):
        """One token per observed combination of the confounders' values, e.g. '3|1' for (3, 1)."""
        parts = [feat[c] for c in self.confounder_components]
        joint = parts[0].astype(str)
        for part in parts[1:]:
            joint = joint + "|" + part.astype(str)
        missing = pd.concat([p.isna() for p in parts], axis=1).any(axis=1)
        feat[self.confounder_field] = joint.where(~missing)
        first = self.confounder_components[0]
        self.set_field_property(self.confounder_field, FeatureType.TOKEN, self.field2source[first], 1)

    def _check_binary(self, field, key, inter_files):
        values = self.inter_feat[field].to_numpy()
        bad = ~np.isin(values, (0.0, 1.0))
        if not bad.any():
            return
        row = int(np.flatnonzero(bad)[0])
        sizes = getattr(self, "file_size_list", None) or [len(values)]
        file_index = int(np.searchsorted(np.cumsum(sizes), row, side="right"))
        line = row - int(np.sum(sizes[:file_index])) + 2  # +1 header, +1 for 1-based lines
        raise DatasetError(
            f"{inter_files[file_index]}: column '{field}' ({key}) must hold 0/1 labels; line {line} has "
            f"{values[row]!r} ({int(bad.sum())} bad rows in all). Fix: binarize the column (e.g. finish = "
            f"play time >= duration) or fill missing labels before loading."
        )

    def _data_processing(self):
        super()._data_processing()
        conf_ids = self._confounder_ids_of(self.inter_feat)
        if (conf_ids == 0).any():
            missing_items = self.inter_feat[self.iid_field].to_numpy()[conf_ids == 0]
            raw = self.id2token(self.iid_field, np.unique(missing_items)[:5])
            raise DatasetError(
                f"{self._confounder_file}: column '{self.confounder_field}' (CONFOUNDER_FIELD) is empty or missing "
                f"for {int((conf_ids == 0).sum())} interactions (e.g. items {list(raw)}). Fix: give every item "
                f"a confounder value (a missing duration can be its own bin) or drop those rows."
            )

    # ------------------------------------------------------------------ fields the models may use
    def fields(self, ftype=None, source=None):
        """RecBole's ``fields`` without the evaluation label, so that no model can read it as a feature."""
        hidden = {self.eval_label_field} - {self.train_label_field}
        return [field for field in super().fields(ftype, source) if field not in hidden]

    # ------------------------------------------------------------------ the confounder
    @property
    def confounder_parts(self):
        """The fields that make up the joint confounder when CONFOUNDER_FIELD lists several (else empty)."""
        return self.confounder_components if len(self.confounder_components) > 1 else []

    def confounder_part_index(self):
        """For several confounders: [K, parts] LongTensor, the 0-based value of each part in each joint value."""
        joint_tokens = self.field2id_token[self.confounder_field][1:]
        rows = [token.split("|") for token in joint_tokens]
        return torch.tensor(
            [[self.field2token_id[part][value] - 1 for part, value in zip(self.confounder_parts, row)] for row in rows],
            dtype=torch.long,
        )

    @property
    def num_confounder_values(self):
        """The number K of distinct confounder values (RecBole's padding token excluded)."""
        return self.num(self.confounder_field) - 1

    def _confounder_ids_of(self, inter_df):
        """Remapped confounder id (1..K; 0 = missing) of each row of an interaction DataFrame."""
        conf = self.confounder_field
        if conf in inter_df.columns:
            return inter_df[conf].to_numpy()
        # after RecBole's feature preparation, row i of item_feat describes item id i
        return self.item_feat[conf].to_numpy()[inter_df[self.iid_field].to_numpy()]

    def confounder_values(self):
        """Confounder id of every interaction of this (split) dataset, as a LongTensor in 1..K."""
        conf, iid = self.confounder_field, self.iid_field
        if conf in self.inter_feat.columns:
            return self.inter_feat[conf].long()
        return self.item_feat[conf][self.inter_feat[iid]].long()

    def confounder_prior(self):
        """P(a) for a = 1..K: frequency of each value among this dataset's interactions (eq. 2)."""
        counts = torch.bincount(self.confounder_values(), minlength=self.num(self.confounder_field))[1:]
        return counts.double() / counts.sum()

    def label_rate_by_confounder(self):
        """P(Y=1 | a) for a = 1..K: mean training label of this dataset's rows with each value (0 if none)."""
        index = self.confounder_values() - 1
        k = self.num_confounder_values
        rows = torch.bincount(index, minlength=k).double()
        positives = torch.bincount(index, weights=self.inter_feat[self.train_label_field].double(), minlength=k)
        return torch.where(rows > 0, positives / rows.clamp(min=1), torch.zeros_like(rows))

    # ------------------------------------------------------------------ splitting
    def build(self):
        datasets = super().build()
        train, valid, test = datasets
        prior = train.confounder_prior()
        tokens = self.field2id_token[self.confounder_field][1:]
        self.logger.info(
            f"confounder [{self.confounder_field}]: K={len(prior)}, P(a) from {len(train)} training rows: "
            + ", ".join(f"{t}={p:.3f}" for t, p in zip(tokens, prior.tolist()))
        )
        seen = prior > 0
        for name, part in (("valid", valid), ("test", test)):
            ids = torch.unique(part.confounder_values()) - 1
            unseen = [tokens[i] for i in ids.tolist() if not seen[i]]
            if unseen:
                self.logger.warning(
                    f"{self.confounder_field} values {unseen} occur in the {name} split but never in training: "
                    f"P(a)=0 there, so DCR's do-inference (DCRMoE, DCRNFM, NWGMDCR) gives them zero weight, while "
                    f"models that condition on the observed value (NFMWA, MoE, stock RecBole models) score those "
                    f"rows with an untrained embedding or expert."
                )
        return datasets


def dataset_fingerprint(dataset):
    """{token field: [number of tokens, sha1 of the token list]}: the id mappings a model was trained with."""
    return {
        str(field): [len(tokens), hashlib.sha1("\n".join(map(str, tokens)).encode("utf-8")).hexdigest()]
        for field, tokens in sorted(dataset.field2id_token.items())
    }
