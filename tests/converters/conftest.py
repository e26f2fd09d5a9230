"""Fixtures for the dataset converter tests: tiny raw files in the exact
published formats, written into temporary folders."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

try:  # keep hypothesis' cache out of the checkout (.hypothesis/ is not ignored by git)
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "recbole-dcr-converter-tests-hypothesis")
except ImportError:  # pragma: no cover - older hypothesis
    pass

KWAI_COLUMNS = ["user_id", "photo_id", "click", "like", "follow", "time", "playing_time", "duration_time"]
WECHAT_ACTION_COLUMNS = ["userid", "feedid", "date_", "device", "read_comment", "comment", "like", "play", "stay",
                         "click_avatar", "forward", "follow", "favorite"]
WECHAT_FEED_COLUMNS = ["feedid", "authorid", "videoplayseconds", "description", "ocr", "asr", "bgm_song_id",
                       "bgm_singer_id", "manual_keyword_list", "machine_keyword_list", "manual_tag_list",
                       "machine_tag_list", "description_char", "ocr_char", "asr_char"]
KUAIRAND_LOG_COLUMNS = ["user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow",
                        "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms",
                        "profile_stay_time", "comment_stay_time", "is_profile_enter", "is_rand", "tab"]
KUAIRAND_VIDEO_COLUMNS = ["video_id", "author_id", "video_type", "upload_dt", "upload_type", "visible_status",
                          "video_duration", "server_width", "server_height", "music_id", "music_type", "tag"]


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def kwai_row(user, photo, click=1, like=0, follow=0, time=1_500_000_000, playing_time=None, duration_time=20):
    """One line of train_interaction.txt as a list of strings."""
    if playing_time is None:
        playing_time = duration_time if click else 0
    return [str(v) for v in (user, photo, click, like, follow, time, playing_time, duration_time)]


def generated_kwai_rows(n_users=12, n_items=40, n_rows=400, seed=0):
    """A small random log with the challenge's shape (durations per photo, no
    play time without a click, finish less likely for long photos)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    durations = rng.integers(3, 90, n_items)
    rows = []
    for n in range(n_rows):
        user, photo = int(rng.integers(n_users)), int(rng.integers(n_items))
        click = int(rng.random() < 0.4)
        duration = int(durations[photo])
        played = int(rng.integers(0, 2 * duration)) if click else 0
        rows.append(kwai_row(user, photo, click, int(click and rng.random() < 0.2), 0, 1_500_000_000 + n, played, duration))
    return rows


def write_kwai(raw: Path, rows, sep="\t", text=None, faces=None) -> Path:
    """``raw/train/train_interaction.txt`` (+ optional text and face tables)."""
    _write(raw / "train" / "train_interaction.txt", [sep.join(r) for r in rows])
    if text is not None:
        _write(raw / "train" / "train_text.txt", [f"{photo}\t{words}" for photo, words in text])
    if faces is not None:
        _write(raw / "train" / "train_face.txt", [f"{photo}\t{value}" for photo, value in faces])
    return raw


def wechat_action(userid, feedid, play=0, read_comment=0, like=0, forward=0, date_=1):
    values = dict(userid=userid, feedid=feedid, date_=date_, device=1, read_comment=read_comment, comment=0,
                  like=like, play=play, stay=play + 500, click_avatar=0, forward=forward, follow=0, favorite=0)
    return [str(values[c]) for c in WECHAT_ACTION_COLUMNS]


def wechat_feed(feedid, seconds=10, authorid=None, bgm_song_id="", bgm_singer_id="", manual_tag_list="",
                machine_tag_list=""):
    values = dict(feedid=feedid, authorid=feedid % 5 if authorid is None else authorid, videoplayseconds=seconds,
                  description="1 2 3", ocr="4 5", asr="6", bgm_song_id=bgm_song_id, bgm_singer_id=bgm_singer_id,
                  manual_keyword_list="7;8", machine_keyword_list="9;10", manual_tag_list=manual_tag_list,
                  machine_tag_list=machine_tag_list, description_char="11 12", ocr_char="13", asr_char="14")
    return [str(values[c]) for c in WECHAT_FEED_COLUMNS]


def generated_wechat(n_users=10, n_feeds=30, n_rows=300, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    seconds = rng.integers(5, 60, n_feeds)
    feeds = [wechat_feed(f, int(seconds[f]), bgm_song_id="" if f % 4 == 0 else f"{f % 6}.0",
                         bgm_singer_id="" if f % 4 == 0 else str(f % 3), manual_tag_list=f"{f % 5};{f % 7 + 10}",
                         machine_tag_list=f"{f % 5} 0.9;{f % 3 + 20} 0.2") for f in range(n_feeds)]
    actions = []
    for _ in range(n_rows):
        feed = int(rng.integers(n_feeds))
        actions.append(wechat_action(int(rng.integers(n_users)), feed, int(rng.integers(0, 2000 * seconds[feed])),
                                     int(rng.random() < 0.2), int(rng.random() < 0.2), int(rng.random() < 0.1),
                                     int(rng.integers(1, 15))))
    return actions, feeds


def write_wechat(raw: Path, actions, feeds, sep=",", action_columns=None, feed_columns=None) -> Path:
    folder = raw / "wechat_algo_data1"
    _write(folder / "user_action.csv", [sep.join(action_columns or WECHAT_ACTION_COLUMNS), *[sep.join(a) for a in actions]])
    _write(folder / "feed_info.csv", [sep.join(feed_columns or WECHAT_FEED_COLUMNS), *[sep.join(f) for f in feeds]])
    return raw


def kuairand_log(user_id, video_id, play_time_ms=0, duration_ms=10_000, is_click=1, is_like=0, is_rand=0, long_view=0):
    values = dict(user_id=user_id, video_id=video_id, date=20220408, hourmin=1300, time_ms=1649394000000,
                  is_click=is_click, is_like=is_like, is_follow=0, is_comment=0, is_forward=0, is_hate=0,
                  long_view=long_view, play_time_ms=play_time_ms, duration_ms=duration_ms, profile_stay_time=0,
                  comment_stay_time=0, is_profile_enter=0, is_rand=is_rand, tab=1)
    return [str(values[c]) for c in KUAIRAND_LOG_COLUMNS]


def kuairand_video(video_id, author_id=None, tag="", music_id=""):
    values = dict(video_id=video_id, author_id=video_id % 4 if author_id is None else author_id, video_type="NORMAL",
                  upload_dt="2022-01-01", upload_type="ShortImport", visible_status="public", video_duration=10000,
                  server_width=720, server_height=1280, music_id=music_id, music_type=9,
                  tag=f'"{tag}"' if "," in tag else tag)
    return [str(values[c]) for c in KUAIRAND_VIDEO_COLUMNS]


def generated_kuairand(n_users=10, n_videos=30, n_standard=300, n_random=80, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    durations = rng.integers(2_000, 60_000, n_videos)

    def rows(n, rand):
        out = []
        for _ in range(n):
            video = int(rng.integers(n_videos))
            out.append(kuairand_log(int(rng.integers(n_users)), video, int(rng.integers(0, 2 * durations[video])),
                                    int(durations[video]), int(rng.random() < 0.5), int(rng.random() < 0.15), rand))
        return out

    return rows(n_standard, 0), rows(n_random, 1)


def write_kuairand(raw: Path, standard, random=None, videos=None, sep=",", columns=None) -> Path:
    data = raw / "data"
    header = sep.join(columns or KUAIRAND_LOG_COLUMNS)
    _write(data / "log_standard_4_08_to_4_21_pure.csv", [header, *[sep.join(r) for r in standard]])
    if random is not None:
        _write(data / "log_random_4_22_to_5_08_pure.csv", [header, *[sep.join(r) for r in random]])
    if videos is not None:
        _write(data / "video_features_basic_pure.csv", [",".join(KUAIRAND_VIDEO_COLUMNS), *[",".join(v) for v in videos]])
    return raw


def read_atomic(path: Path):
    """(header, rows) of a RecBole atomic file, all values as strings."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def pairs_of(path: Path) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in read_atomic(path)[1]]


@pytest.fixture(scope="session")
def raw():
    """Raw-file writers and readers shared by the converter tests."""
    return SimpleNamespace(
        kwai_row=kwai_row, generated_kwai_rows=generated_kwai_rows, write_kwai=write_kwai,
        wechat_action=wechat_action, wechat_feed=wechat_feed, generated_wechat=generated_wechat, write_wechat=write_wechat,
        kuairand_log=kuairand_log, kuairand_video=kuairand_video, generated_kuairand=generated_kuairand,
        write_kuairand=write_kuairand, read_atomic=read_atomic, pairs_of=pairs_of, repo_root=REPO_ROOT,
        KWAI_COLUMNS=KWAI_COLUMNS, WECHAT_ACTION_COLUMNS=WECHAT_ACTION_COLUMNS, WECHAT_FEED_COLUMNS=WECHAT_FEED_COLUMNS,
        KUAIRAND_LOG_COLUMNS=KUAIRAND_LOG_COLUMNS,
    )
