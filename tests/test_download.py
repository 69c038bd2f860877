"""QuickDraw downloads by category name, against a local HTTP server (no internet)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sketchart.data.npzsafe import write_npz
from sketchart.data.quickdraw import (
    QUICKDRAW_CATEGORIES,
    DownloadError,
    category_name,
    download_category,
    resolve_data_set,
)
from sketchart.errors import SketchartError


def _dataset_bytes(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(0)

    def sketch(n: int) -> np.ndarray:
        s = np.zeros((n, 3), np.int16)
        s[:, :2] = rng.integers(-20, 20, size=(n, 2))
        s[-1, 2] = 1
        return s

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    path = src / "src.npz"
    write_npz(path, {"train": [sketch(5), sketch(7)], "valid": [sketch(4)],
                     "test": [sketch(6)]})
    return path.read_bytes()


class _Server:
    """Serves ``files`` (URL path -> bytes); records the paths requested."""

    def __init__(self, files: dict[str, bytes], lie_about_length: bool = False) -> None:
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                extra = 1000 if lie_about_length else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sketchrnn"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    body = _dataset_bytes(tmp_path)
    srv = _Server({"/sketchrnn/flamingo.npz": body,
                   "/sketchrnn/hot%20air%20balloon.npz": body,
                   "/sketchrnn/The%20Eiffel%20Tower.npz": body,
                   "/sketchrnn/broken.npz": b"PK\x03\x04 not really a zip"})
    monkeypatch.setenv("SKETCHART_DATA_URL", srv.url)
    yield srv
    srv.close()


def test_category_names_are_normalised_like_googles_files() -> None:
    assert len(QUICKDRAW_CATEGORIES) == 345
    assert category_name("Flamingo") == "flamingo.npz"
    assert category_name("hot_air_balloon.npz") == "hot air balloon.npz"
    assert category_name("THE_EIFFEL_TOWER") == "The Eiffel Tower.npz"
    assert category_name("cat.full.npz") == "cat.full.npz"
    assert category_name("not_a_category.npz") is None


def test_missing_category_is_downloaded_validated_and_reused(
        server: _Server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = resolve_data_set("flamingo.npz", data_dir, progress=False)
    assert path == data_dir / "flamingo.npz"
    from sketchart.data.datasets import load_npz

    assert len(load_npz(path).train) == 2
    assert sorted(p.name for p in data_dir.iterdir()) == ["flamingo.npz"]  # no temp left
    # a second lookup finds the local file and does not download again
    assert resolve_data_set("flamingo", data_dir, progress=False) == path
    assert server.requests == ["/sketchrnn/flamingo.npz"]


def test_names_with_spaces_and_capitals_map_to_googles_urls(
        server: _Server, tmp_path: Path) -> None:
    assert resolve_data_set("Hot_Air_Balloon.npz", tmp_path, progress=False).name == \
        "hot air balloon.npz"
    assert resolve_data_set("the_eiffel_tower", tmp_path, progress=False).name == \
        "The Eiffel Tower.npz"


def test_a_404_is_a_one_line_error_and_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download_category("zebra", tmp_path / "d", base_url=server.url, progress=False)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "d").iterdir()) == []


def test_a_corrupt_download_is_refused_and_removed(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not a valid dataset"):
        download_category("broken.npz", tmp_path / "d", base_url=server.url, progress=False)
    assert list((tmp_path / "d").iterdir()) == []


def test_a_truncated_download_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         ) -> None:
    srv = _Server({"/sketchrnn/cat.npz": _dataset_bytes(tmp_path)}, lie_about_length=True)
    try:
        with pytest.raises(DownloadError):
            download_category("cat", tmp_path / "d", base_url=srv.url, progress=False)
    finally:
        srv.close()
    assert list((tmp_path / "d").iterdir()) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot download"):
        download_category("cat", tmp_path, base_url="http://127.0.0.1:9/x", progress=False,
                          timeout=5)


def test_unknown_name_suggests_a_category(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          ) -> None:
    monkeypatch.delenv("SKETCHART_DATA_URL", raising=False)
    with pytest.raises(SketchartError, match="did you mean flamingo.npz"):
        resolve_data_set("flamingoo.npz", tmp_path, progress=False)
    with pytest.raises(SketchartError, match="no such file"):
        resolve_data_set("some/where/mine.npz", tmp_path, progress=False)


def test_local_files_win_over_downloads(tmp_path: Path, server: _Server) -> None:
    local = tmp_path / "flamingo.npz"
    local.write_bytes(_dataset_bytes(tmp_path))
    assert resolve_data_set("flamingo.npz", tmp_path, progress=False) == local
    assert server.requests == []


def test_progress_goes_to_stderr(server: _Server, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    download_category("flamingo", tmp_path, base_url=server.url, progress=True)
    err = capsys.readouterr().err
    assert "flamingo.npz" in err and "MB" in err


def test_a_url_data_dir_is_fetched_once_into_the_cache(
        server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """magenta's ``--data_dir=https://.../aaron_sheep``: any file name, kept as is."""
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "home"))
    server.files["/sketchrnn/my_sheep.npz"] = server.files["/sketchrnn/flamingo.npz"]
    path = resolve_data_set("my_sheep.npz", server.url + "/", progress=False)
    assert path.name == "my_sheep.npz" and path.is_relative_to(tmp_path / "home" / "data")
    assert resolve_data_set("my_sheep.npz", server.url, progress=False) == path
    assert server.requests == ["/sketchrnn/my_sheep.npz"]
    with pytest.raises(DownloadError, match="HTTP 404"):
        resolve_data_set("other.npz", server.url, progress=False)


# ------------------------------------------------------------- faulty servers, one line
class _RawServer:
    """Answers each path with raw bytes (a faulty server); ``trickle`` paths send a byte
    every 0.1 s; ``big`` paths stream zeros without a Content-Length."""

    def __init__(self) -> None:
        import socketserver

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                import time

                line = self.rfile.readline().decode("latin1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                path = line.split(" ")[1] if " " in line else "/"
                try:
                    if path == "/trickle":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                        for _ in range(100):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.1)
                    elif path == "/big":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                        for _ in range(64):
                            self.wfile.write(bytes(1 << 20))
                    else:
                        self.wfile.write(_RAW["/loop" if path.startswith("/loop") else path])
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_RAW = {
    "/chunked-cut": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"10\r\n0123456789abcdef\r\n10\r\n0123"),
    "/bad-status": b"HTTP/1.1 abc\r\n\r\n",
    "/garbage": b"\x00\x01 not http at all\r\n\r\n",
    "/bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\nConnection: close\r\n\r\nhello",
    "/loop": b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
    "/declared-huge": b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\nxx",
}


@pytest.fixture
def raw_server() -> Iterator[_RawServer]:
    srv = _RawServer()
    yield srv
    srv.close()


@pytest.mark.parametrize(("path", "kind"), [
    ("/chunked-cut", "interrupted"),
    ("/bad-status", "network"),
    ("/garbage", "network"),
    ("/loop", "http"),
    ("/declared-huge", "size"),
])
def test_http_faults_are_one_line_fetch_errors(raw_server: _RawServer, tmp_path: Path,
                                               path: str, kind: str) -> None:
    from sketchart.util.download import FetchError, Limits, download_file

    with pytest.raises(FetchError) as err:
        download_file(raw_server.url + path, tmp_path / "x.bin", label="x", timeout=5,
                      limits=Limits(max_bytes=1 << 20))
    assert err.value.kind == kind
    assert "\n" not in str(err.value) and "\n" not in str(err.value.reason or "")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_content_length_is_read_to_the_end(raw_server: _RawServer,
                                                 tmp_path: Path) -> None:
    from sketchart.util.download import download_file

    out = download_file(raw_server.url + "/bad-length", tmp_path / "x.bin", label="x",
                        timeout=5)
    assert out.read_bytes() == b"hello"


def test_the_redirect_loop_reads_as_one_line_for_users(raw_server: _RawServer,
                                                       tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as err:
        download_category("x", tmp_path, base_url=raw_server.url + "/loop")
    assert "\n" not in str(err.value) and "HTTP 302" in str(err.value)


def test_downloads_have_a_deadline_a_minimum_rate_and_a_size_cap(
        raw_server: _RawServer, tmp_path: Path) -> None:
    import time

    from sketchart.util.download import FetchError, Limits, download_file

    cases = [("/trickle", Limits(deadline=1.0), "deadline", "not done after"),
             ("/trickle", Limits(grace=0.5, min_rate=100), "deadline", "too slow"),
             ("/big", Limits(max_bytes=1 << 20), "size", "larger than")]
    for path, limits, kind, text in cases:
        start = time.monotonic()
        with pytest.raises(FetchError) as err:
            download_file(raw_server.url + path, tmp_path / "x.bin", label="x", timeout=5,
                          limits=limits)
        assert err.value.kind == kind and text in str(err.value.reason)
        assert time.monotonic() - start < 4
    assert list(tmp_path.iterdir()) == []


def test_a_pinned_download_may_not_exceed_its_size(raw_server: _RawServer,
                                                   tmp_path: Path) -> None:
    from sketchart.util.download import FetchError, download_file

    with pytest.raises(FetchError) as err:
        download_file(raw_server.url + "/big", tmp_path / "m.gen.json", label="m", timeout=5,
                      sha256="0" * 64, expect_bytes=3_000_000)
    assert err.value.kind == "size" and err.value.received <= 3_000_000 + (1 << 16)


def test_a_killed_downloads_part_file_is_removed_by_the_next(
        server: _Server, tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "data"
    folder.mkdir()
    leftover = folder / f".flamingo.npz.{dead}-abc123.part"
    leftover.write_bytes(b"half a download")
    download_category("flamingo", folder)
    assert sorted(p.name for p in folder.iterdir()) == ["flamingo.npz"]
