"""QuickDraw sketch-rnn datasets by category name, downloaded from Google's public bucket.

``data_set=flamingo.npz`` that is not in the data folder is fetched from
``<base>/<category>.npz`` (``base`` = ``$SKETCHART_DATA_URL`` or Google's bucket), with a
progress bar on stderr. The download goes to a hidden temporary file beside the target, is
validated like any dataset (read without executing pickles, splits and strokes checked) and
only then renamed into place: an interrupted or corrupt download never leaves a file that
looks like a dataset. Stdlib + NumPy only (layer L1): importing it never imports Keras.
"""

from __future__ import annotations

import difflib
import os
import urllib.parse
from pathlib import Path

from sketchart.errors import SketchartError
from sketchart.util.download import FetchError, download_file

__all__ = [
    "DEFAULT_DATA_URL",
    "QUICKDRAW_CATEGORIES",
    "DownloadError",
    "category_name",
    "data_url",
    "download_category",
    "resolve_data_set",
]

#: Google's public folder of sketch-rnn ``.npz`` files (70,000/2,500/2,500 per category).
DEFAULT_DATA_URL = "https://storage.googleapis.com/quickdraw_dataset/sketchrnn"

#: The 345 Quick, Draw! categories, spelt as Google's file names are.
QUICKDRAW_CATEGORIES: tuple[str, ...] = (
    "The Eiffel Tower", "The Great Wall of China", "The Mona Lisa", "aircraft carrier",
    "airplane", "alarm clock", "ambulance", "angel", "animal migration", "ant", "anvil",
    "apple", "arm", "asparagus", "axe", "backpack", "banana", "bandage", "barn",
    "baseball bat", "baseball", "basket", "basketball", "bat", "bathtub", "beach", "bear",
    "beard", "bed", "bee", "belt", "bench", "bicycle", "binoculars", "bird",
    "birthday cake", "blackberry", "blueberry", "book", "boomerang", "bottlecap",
    "bowtie", "bracelet", "brain", "bread", "bridge", "broccoli", "broom", "bucket",
    "bulldozer", "bus", "bush", "butterfly", "cactus", "cake", "calculator", "calendar",
    "camel", "camera", "camouflage", "campfire", "candle", "cannon", "canoe", "car",
    "carrot", "castle", "cat", "ceiling fan", "cell phone", "cello", "chair",
    "chandelier", "church", "circle", "clarinet", "clock", "cloud", "coffee cup",
    "compass", "computer", "cookie", "cooler", "couch", "cow", "crab", "crayon",
    "crocodile", "crown", "cruise ship", "cup", "diamond", "dishwasher", "diving board",
    "dog", "dolphin", "donut", "door", "dragon", "dresser", "drill", "drums", "duck",
    "dumbbell", "ear", "elbow", "elephant", "envelope", "eraser", "eye", "eyeglasses",
    "face", "fan", "feather", "fence", "finger", "fire hydrant", "fireplace", "firetruck",
    "fish", "flamingo", "flashlight", "flip flops", "floor lamp", "flower",
    "flying saucer", "foot", "fork", "frog", "frying pan", "garden hose", "garden",
    "giraffe", "goatee", "golf club", "grapes", "grass", "guitar", "hamburger", "hammer",
    "hand", "harp", "hat", "headphones", "hedgehog", "helicopter", "helmet", "hexagon",
    "hockey puck", "hockey stick", "horse", "hospital", "hot air balloon", "hot dog",
    "hot tub", "hourglass", "house plant", "house", "hurricane", "ice cream", "jacket",
    "jail", "kangaroo", "key", "keyboard", "knee", "knife", "ladder", "lantern", "laptop",
    "leaf", "leg", "light bulb", "lighter", "lighthouse", "lightning", "line", "lion",
    "lipstick", "lobster", "lollipop", "mailbox", "map", "marker", "matches", "megaphone",
    "mermaid", "microphone", "microwave", "monkey", "moon", "mosquito", "motorbike",
    "mountain", "mouse", "moustache", "mouth", "mug", "mushroom", "nail", "necklace",
    "nose", "ocean", "octagon", "octopus", "onion", "oven", "owl", "paint can",
    "paintbrush", "palm tree", "panda", "pants", "paper clip", "parachute", "parrot",
    "passport", "peanut", "pear", "peas", "pencil", "penguin", "piano", "pickup truck",
    "picture frame", "pig", "pillow", "pineapple", "pizza", "pliers", "police car",
    "pond", "pool", "popsicle", "postcard", "potato", "power outlet", "purse", "rabbit",
    "raccoon", "radio", "rain", "rainbow", "rake", "remote control", "rhinoceros",
    "rifle", "river", "roller coaster", "rollerskates", "sailboat", "sandwich", "saw",
    "saxophone", "school bus", "scissors", "scorpion", "screwdriver", "sea turtle",
    "see saw", "shark", "sheep", "shoe", "shorts", "shovel", "sink", "skateboard",
    "skull", "skyscraper", "sleeping bag", "smiley face", "snail", "snake", "snorkel",
    "snowflake", "snowman", "soccer ball", "sock", "speedboat", "spider", "spoon",
    "spreadsheet", "square", "squiggle", "squirrel", "stairs", "star", "steak", "stereo",
    "stethoscope", "stitches", "stop sign", "stove", "strawberry", "streetlight",
    "string bean", "submarine", "suitcase", "sun", "swan", "sweater", "swing set",
    "sword", "syringe", "t-shirt", "table", "teapot", "teddy-bear", "telephone",
    "television", "tennis racquet", "tent", "tiger", "toaster", "toe", "toilet", "tooth",
    "toothbrush", "toothpaste", "tornado", "tractor", "traffic light", "train", "tree",
    "triangle", "trombone", "truck", "trumpet", "umbrella", "underwear", "van", "vase",
    "violin", "washing machine", "watermelon", "waterslide", "whale", "wheel", "windmill",
    "wine bottle", "wine glass", "wristwatch", "yoga", "zebra", "zigzag",
)

# lower-case key ("the eiffel tower") -> Google's spelling ("The Eiffel Tower")
_BY_KEY = {name.lower(): name for name in QUICKDRAW_CATEGORIES}
_SUFFIXES = (".full.npz", ".npz")


class DownloadError(SketchartError):
    """A dataset could not be downloaded (network, HTTP status, or invalid content)."""


def data_url() -> str:
    """The base URL datasets are downloaded from (``$SKETCHART_DATA_URL`` or Google's)."""
    return os.environ.get("SKETCHART_DATA_URL", "").strip() or DEFAULT_DATA_URL


def _split_suffix(name: str) -> tuple[str, str]:
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ".npz"


def _key(stem: str) -> str:
    # Google's names use spaces; users type underscores (hot_air_balloon) or any case
    return " ".join(stem.replace("_", " ").split()).lower()


def category_name(name: str) -> str | None:
    """Google's file name for a category typed any way, or None if it is not one.

    ``"Hot_Air_Balloon.npz"`` -> ``"hot air balloon.npz"``, ``"the eiffel tower"`` ->
    ``"The Eiffel Tower.npz"``, ``"cat.full.npz"`` -> ``"cat.full.npz"``.

    Args:
        name: a ``data_set`` entry: a category with or without ``.npz`` / ``.full.npz``.

    Returns:
        The file name to fetch and store, or None when ``name`` is not a known category.
    """
    stem, suffix = _split_suffix(os.path.basename(name))
    canonical = _BY_KEY.get(_key(stem))
    return None if canonical is None else canonical + suffix


def _guess_file_name(name: str) -> str:
    """File name for an unlisted category (custom ``$SKETCHART_DATA_URL``): normalised."""
    stem, suffix = _split_suffix(os.path.basename(name))
    return _key(stem) + suffix


def resolve_data_set(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """The local path of one ``data_set`` entry, downloading a QuickDraw category if needed.

    Looked up in order: ``name`` as a path (absolute, or relative to the working folder when
    it has a folder part), ``data_dir/name``, ``data_dir/<Google's file name>``; then, if
    ``name`` is a QuickDraw category (or any name when ``$SKETCHART_DATA_URL`` is set), it is
    downloaded into ``data_dir``. A ``data_dir`` that is an ``http(s)://`` URL (magenta's
    default ``--data_dir`` is one) is a remote folder: ``<data_dir>/<name>`` is downloaded
    once into the user's cache (``$SKETCHART_HOME/data``) and read from there.

    Args:
        name: ``cat.npz``, ``hot_air_balloon``, ``runs/mine.npz`` ...
        data_dir: the data folder (created for a download) or a URL; None means the
            working folder.
        download: allow downloading a missing category.
        progress: draw a progress bar on stderr while downloading.

    Returns:
        Path of an existing file.

    Raises:
        SketchartError: the file is missing and cannot be downloaded.
    """
    if data_dir is not None and _is_url(str(data_dir)):
        return _from_url_folder(name, str(data_dir), download=download, progress=progress)
    folder = Path(data_dir) if data_dir is not None else Path(".")
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() or len(given.parts) > 1 else []
    candidates.append(folder / name)
    official = category_name(name)
    if official is not None:
        candidates.append(folder / official)
    for path in candidates:
        if path.is_file():
            return path
    if given.is_absolute() or len(given.parts) > 1:
        raise SketchartError(f"data_set {name!r}: no such file")
    custom_url = bool(os.environ.get("SKETCHART_DATA_URL", "").strip())
    if official is None and not custom_url:
        close = difflib.get_close_matches(_key(_split_suffix(name)[0]), list(_BY_KEY), n=1)
        hint = f" (did you mean {_BY_KEY[close[0]]}.npz?)" if close else ""
        raise SketchartError(
            f"data_set {name!r}: not found in {folder} and not a QuickDraw category{hint}"
        )
    if not download:
        raise SketchartError(f"data_set {name!r}: not found in {folder} (downloads disabled)")
    return download_category(name, folder, progress=progress)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _from_url_folder(name: str, base: str, *, download: bool, progress: bool) -> Path:
    """magenta's ``--data_dir=https://...``: files fetched once into the user's cache."""
    import hashlib

    from sketchart.hub.store import cache_dir

    base = base.rstrip("/")
    file_name = os.path.basename(name)
    folder = cache_dir() / "data" / hashlib.sha256(base.encode()).hexdigest()[:16]
    local = folder / file_name
    if local.is_file():
        return local
    if not download:
        raise SketchartError(f"data_set {name!r}: not in the cache of {base} "
                             "(downloads disabled)")
    return download_category(name, folder, base_url=base, progress=progress,
                             file_name=file_name)


def download_category(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    file_name: str | None = None,
) -> Path:
    """Download ``<base>/<category>.npz`` into ``data_dir``, validate it, rename it in place.

    Args:
        name: a category (``flamingo``, ``hot_air_balloon.npz``, ``cat.full.npz``).
        data_dir: destination folder (created if missing).
        base_url: defaults to :func:`data_url`.
        progress: draw a progress bar on stderr.
        timeout: seconds to wait on the network before giving up.
        file_name: the remote and local file name as is (default: Google's spelling of
            the category).

    Returns:
        Path of the validated file.

    Raises:
        DownloadError: network or HTTP failure, a truncated body, or a file that is not a
            valid sketch-rnn dataset; nothing is left in ``data_dir`` in that case.
    """
    file_name = file_name or category_name(name) or _guess_file_name(name)
    base = (base_url or data_url()).rstrip("/")
    url = f"{base}/{urllib.parse.quote(file_name)}"
    folder = Path(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create data folder {folder}: {exc.strerror}") from None
    try:
        return download_file(url, folder / file_name, label=file_name, timeout=timeout,
                             progress=progress, check=lambda part: _validate(part, url))
    except FetchError as exc:
        raise DownloadError(_fetch_message(exc, file_name)) from None


def _fetch_message(exc: FetchError, label: str) -> str:
    url = exc.url
    if exc.kind == "http" and exc.code == 404:
        return f"{url}: not found (HTTP 404); is {label!r} a category?"
    if exc.kind == "http":
        return f"{url}: HTTP {exc.code} {exc.reason}"
    if exc.kind == "network":
        return f"cannot download {url}: {exc.reason}"
    if exc.kind == "interrupted":
        return f"{url}: download interrupted ({exc.reason})"
    if exc.kind == "size":
        return f"{url}: download refused, {exc.reason}"
    if exc.kind == "deadline":
        return f"{url}: download stopped, {exc.reason}"
    return f"{url}: truncated download ({exc.received} of {exc.total} bytes)"


def _validate(path: Path, url: str) -> None:
    """Check the downloaded file like any dataset; raise DownloadError naming the URL."""
    from sketchart.data.datasets import load_npz

    try:
        load_npz(path)
    except SketchartError as exc:
        message = str(exc).replace(str(path), url)
        raise DownloadError(f"downloaded file is not a valid dataset: {message}") from None
