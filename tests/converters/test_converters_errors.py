"""Bad input: one clear error naming the file, the line or column, and the fix;
nothing half-written is left in the output folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recbole_dcr.converters import errors, kuairand, kwai, wechat, write

CONVERTERS = {"kwai": kwai, "wechat": wechat, "kuairand": kuairand}


# Each case writes a raw folder and returns (converter, extra args, fragments the message must contain).
def kwai_missing_file(raw, root):
    (root / "train").mkdir(parents=True)
    return "kwai", [], ["train/train_interaction.txt", "missing required file", "point --raw"]


def kwai_missing_raw_folder(raw, root):
    return "kwai", [], ["does not exist", "--raw"]


def kwai_comma_separated(raw, root):
    raw.write_kwai(root, raw.generated_kwai_rows(n_rows=5), sep=",")
    return "kwai", [], ["train_interaction.txt", "comma-separated", "tab-separated"]


def kwai_missing_column(raw, root):
    raw.write_kwai(root, [row[:7] for row in raw.generated_kwai_rows(n_rows=5)])
    return "kwai", [], ["train_interaction.txt", "line 1 has 7", "expected 8", "duration_time"]


def kwai_non_numeric_duration(raw, root):
    rows = raw.generated_kwai_rows(n_rows=5)
    rows[2][7] = "abc"
    raw.write_kwai(root, rows)
    return "kwai", [], ["train_interaction.txt", "column 'duration_time'", "non-numeric", "'abc'", "line 3"]


def kwai_negative_duration(raw, root):
    rows = raw.generated_kwai_rows(n_rows=5)
    rows[1][7] = "-5"
    raw.write_kwai(root, rows)
    return "kwai", [], ["train_interaction.txt", "column 'duration_time'", "negative", "-5", "line 2"]


def kwai_label_outside_01(raw, root):
    rows = raw.generated_kwai_rows(n_rows=5)
    rows[3][3] = "2"
    raw.write_kwai(root, rows)
    return "kwai", [], ["train_interaction.txt", "column 'like'", "outside {0, 1}", "(2)", "line 4"]


def kwai_fractional_click(raw, root):
    rows = raw.generated_kwai_rows(n_rows=5)
    rows[0][2] = "0.5"
    raw.write_kwai(root, rows)
    return "kwai", [], ["column 'click'", "outside {0, 1}", "line 1"]


def kwai_empty_user(raw, root):
    rows = raw.generated_kwai_rows(n_rows=5)
    rows[4][0] = ""
    raw.write_kwai(root, rows)
    return "kwai", [], ["column 'user_id'", "is empty", "line 5"]


def kwai_empty_file(raw, root):
    (root / "train").mkdir(parents=True)
    (root / "train" / "train_interaction.txt").write_bytes(b"")
    return "kwai", [], ["train_interaction.txt", "empty"]


def kwai_text_requested_but_missing(raw, root):
    raw.write_kwai(root, raw.generated_kwai_rows(n_rows=5))
    return "kwai", ["--text"], ["train_text.txt", "--text"]


def wechat_missing_feed_info(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    raw.write_wechat(root, actions, feeds)
    (root / "wechat_algo_data1" / "feed_info.csv").unlink()
    return "wechat", [], ["feed_info.csv", "missing required file"]


def wechat_missing_duration_column(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    columns = ["feedid", "authorid", "playseconds", *raw.WECHAT_FEED_COLUMNS[3:]]
    raw.write_wechat(root, actions, feeds, feed_columns=columns)
    return "wechat", [], ["feed_info.csv", "missing column 'videoplayseconds'", "playseconds"]


def wechat_missing_eval_label_column(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    columns = [c if c != "forward" else "share" for c in raw.WECHAT_ACTION_COLUMNS]
    raw.write_wechat(root, actions, feeds, action_columns=columns)
    return "wechat", ["--eval-label", "forward"], ["user_action.csv", "missing column 'forward'"]


def wechat_semicolon_separated(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    raw.write_wechat(root, actions, feeds, sep=";")
    return "wechat", [], ["feed_info.csv", "semicolon-separated", "comma-separated"]


def wechat_non_numeric_duration(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    feeds[5][2] = "ten"
    raw.write_wechat(root, actions, feeds)
    return "wechat", [], ["feed_info.csv", "column 'videoplayseconds'", "'ten'", "line 7"]


def wechat_negative_duration(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    feeds[0][2] = "-1"
    raw.write_wechat(root, actions, feeds)
    return "wechat", [], ["feed_info.csv", "column 'videoplayseconds'", "negative", "line 2"]


def wechat_label_outside_01(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    actions[2][4] = "3"
    raw.write_wechat(root, actions, feeds)
    return "wechat", [], ["user_action.csv", "column 'read_comment'", "outside {0, 1}", "line 4"]


def wechat_negative_play(raw, root):
    actions, feeds = raw.generated_wechat(n_rows=5)
    actions[0][7] = "-100"
    raw.write_wechat(root, actions, feeds)
    return "wechat", [], ["user_action.csv", "column 'play'", "negative", "line 2"]


def wechat_header_only(raw, root):
    _, feeds = raw.generated_wechat(n_rows=5)
    raw.write_wechat(root, [], feeds)
    return "wechat", [], ["user_action.csv", "no data rows"]


def kuairand_no_logs(raw, root):
    root.mkdir(parents=True)
    return "kuairand", [], ["log_standard_*.csv", "fix:"]


def kuairand_missing_duration_column(raw, root):
    columns = [c if c != "duration_ms" else "video_duration_ms" for c in raw.KUAIRAND_LOG_COLUMNS]
    raw.write_kuairand(root, raw.generated_kuairand(n_standard=5)[0], columns=columns)
    return "kuairand", [], ["log_standard_4_08_to_4_21_pure.csv", "missing column 'duration_ms'"]


def kuairand_tab_separated(raw, root):
    raw.write_kuairand(root, raw.generated_kuairand(n_standard=5)[0], sep="\t")
    return "kuairand", [], ["log_standard_4_08_to_4_21_pure.csv", "tab-separated", "comma-separated"]


def kuairand_label_outside_01(raw, root):
    standard = raw.generated_kuairand(n_standard=5)[0]
    standard[1][6] = "-1"
    raw.write_kuairand(root, standard)
    return "kuairand", [], ["column 'is_like'", "outside {0, 1}", "(-1)", "line 3"]


def kuairand_non_numeric_duration(raw, root):
    standard = raw.generated_kuairand(n_standard=5)[0]
    standard[3][13] = "12s"
    raw.write_kuairand(root, standard)
    return "kuairand", [], ["column 'duration_ms'", "'12s'", "line 5"]


def kuairand_empty_random_log(raw, root):
    raw.write_kuairand(root, raw.generated_kuairand(n_standard=5)[0], random=[])
    (root / "data" / "log_random_4_22_to_5_08_pure.csv").write_bytes(b"")
    return "kuairand", ["--random-test"], ["log_random_4_22_to_5_08_pure.csv", "empty"]


CASES = [kwai_missing_file, kwai_missing_raw_folder, kwai_comma_separated, kwai_missing_column,
         kwai_non_numeric_duration, kwai_negative_duration, kwai_label_outside_01, kwai_fractional_click,
         kwai_empty_user, kwai_empty_file, kwai_text_requested_but_missing, wechat_missing_feed_info,
         wechat_missing_duration_column, wechat_missing_eval_label_column, wechat_semicolon_separated,
         wechat_non_numeric_duration, wechat_negative_duration, wechat_label_outside_01, wechat_negative_play,
         wechat_header_only, kuairand_no_logs, kuairand_missing_duration_column, kuairand_tab_separated,
         kuairand_label_outside_01, kuairand_non_numeric_duration, kuairand_empty_random_log]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_bad_input_gives_one_clear_error_and_no_output(case, tmp_path, raw, capsys):
    name, extra, fragments = case(raw, tmp_path / "raw")
    out = tmp_path / "out"
    argv = ["--raw", str(tmp_path / "raw"), "--out", str(out), "--quiet", *extra]
    with pytest.raises(errors.ConversionError) as caught:
        CONVERTERS[name].convert(argv)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "; fix: " in message and "\n" not in message
    assert not out.exists()  # not even an empty --out folder

    # The command line prints the same message, without a traceback, and exits with 2.
    assert CONVERTERS[name].main(argv) == 2
    stderr = capsys.readouterr().err
    assert stderr.strip() == f"error: {message}"


def test_cli_exit_status_and_message_in_a_subprocess(tmp_path, raw):
    kwai_negative_duration(raw, tmp_path / "raw")
    done = subprocess.run([sys.executable, "dataset_converters/kwai.py", "--raw", str(tmp_path / "raw"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=raw.repo_root)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "duration_time" in done.stderr and "fix:" in done.stderr


def test_bad_options_are_usage_errors(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=20))
    for extra in (["--bins", "1"], ["--split", "0", "0.5", "0.5"], ["--name", "../x"], ["--eval-label", "click"]):
        with pytest.raises(SystemExit) as caught:
            kwai.convert(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), *extra])
        assert caught.value.code == 2


def test_existing_output_is_kept_unless_forced(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=50))
    argv = ["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--quiet"]
    kwai.convert(argv)
    with pytest.raises(errors.ConversionError, match="already exists.*--force"):
        kwai.convert(argv)


def test_failure_while_writing_leaves_no_partial_files(tmp_path, raw, monkeypatch):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=80))
    out = tmp_path / "out"
    argv = ["--raw", str(tmp_path / "raw"), "--out", str(out), "--quiet"]
    kwai.convert(argv)
    before = {p.name: p.read_bytes() for p in (out / "kwai").iterdir()}

    real_writer = write._write_atomic_file
    calls = []

    def writer_that_fails_on_the_third_file(frame, header, path, quiet):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_writer(frame, header, path, quiet)

    monkeypatch.setattr(write, "_write_atomic_file", writer_that_fails_on_the_third_file)
    with pytest.raises(OSError):
        kwai.convert([*argv, "--force", "--seed", "5"])
    # The previous dataset is untouched and no temporary folder remains.
    assert [p.name for p in out.iterdir()] == ["kwai"]
    assert {p.name: p.read_bytes() for p in (out / "kwai").iterdir()} == before

    calls.clear()
    with pytest.raises(OSError):
        kwai.convert(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "fresh"), "--quiet"])
    assert not (tmp_path / "fresh").exists()
