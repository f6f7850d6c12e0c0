"""``ntkrs report`` / :func:`ntkrs.report.write_report`: one self-contained, well-formed HTML page
with embedded PNG images, no external resources, all text escaped."""

from __future__ import annotations

import base64
import math
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import ntkrs  # noqa: E402
from ntkrs.cli import main  # noqa: E402
from ntkrs.report import effective_rank_vs_depth, write_report  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source", "area", "base"}


class _Checker(HTMLParser):
    """Collects tags, attributes and text; checks that non-void elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _check_page(text: str) -> _Checker:
    assert text.lstrip().startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(text)
    c.close()
    assert not c.errors, c.errors[:5]
    assert not c.stack, f"unclosed elements {c.stack}"
    assert "script" not in c.tags and "link" not in c.tags and "iframe" not in c.tags
    for tag, key, value in c.attrs:
        assert not value.strip().lower().startswith(("http://", "https://", "//")), (tag, key, value[:80])
        assert key not in ("href",) or value.startswith("#"), (tag, key, value)
        assert not key.startswith("on"), (tag, key)
    srcs = [v for t, k, v in c.attrs if t == "img" and k == "src"]
    assert len(srcs) >= 4
    for s in srcs:
        assert s.startswith("data:image/png;base64,")
        png = base64.b64decode(s.split(",", 1)[1], validate=True)
        assert png.startswith(PNG_MAGIC) and len(png) > 3000
    return c


def test_write_report_api_is_self_contained_and_escapes(tmp_path):
    X = ntkrs.sample_sphere(120, 5, seed=1)
    net = ntkrs.Network("relu", 2)
    title = "<script>alert('x')</script> & relu"
    path = write_report(net, X, tmp_path / "r.html", title=title, data_description="a<b> data",
                        k=20, depths=[1, 2, 3], coefficient_degree=120, sphere_max_degree=20)
    text = path.read_text(encoding="utf-8")
    c = _check_page(text)
    assert "<script>" not in text and "a<b>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; relu" in text
    assert "a&lt;b&gt; data" in text
    joined = "".join(c.text)
    assert title in joined and "a<b> data" in joined  # the escaped text reads back unchanged
    for section in ("coefficients", "sphere", "Gram spectrum", "Effective-rank bounds", "depth"):
        assert section in joined


def test_effective_rank_vs_depth_matches_spectrum_report():
    X = ntkrs.sample_sphere(150, 4, seed=2)
    rows = effective_rank_vs_depth(lambda L: ntkrs.Network("tanh", L), X, [1, 3])
    for r in rows:
        rep = ntkrs.spectrum_report(ntkrs.Network("tanh", r["depth"]), X, k=3, smallest=False)
        assert r["effective_rank"] == pytest.approx(rep["effective_rank"], rel=1e-9)
        assert r["effective_rank"] <= r["bound_theorem_4_1"] * (1 + 1e-12)
        assert r["effective_rank"] <= r["bound_theorem_4_3"] * (1 + 1e-12)
        assert math.isclose(r["input_effective_rank"], rep["input_effective_rank"], rel_tol=1e-9)


def test_cli_report_escapes_data_path(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "pts<1>&.npy"
    np.save(data, rng.standard_normal((80, 6)), allow_pickle=False)
    out = tmp_path / "report.html"
    rc = main(["report", "erf", "--depth", "2", "--bias-var", "0.1", "--data", str(data), "--out", str(out),
               "--k", "10", "--depths", "1-3", "--quiet"])
    assert rc == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    _check_page(text)
    assert "pts<1>" not in text
    assert "pts&lt;1&gt;&amp;.npy" in text
    assert "bias_var=0.1" in text


def test_cli_report_errors_are_clean(tmp_path, capsys):
    # the step function has no finite NTK: a one-line error, then the NNGP works
    rc = main(["report", "step", "--depth", "2", "--data", "sphere:n=60,d=3", "--out", str(tmp_path / "s.html"),
               "--depths", "1,2", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("ntkrs: error:") and "nngp" in err and "Traceback" not in err
    rc = main(["report", "step", "--depth", "2", "--kind", "nngp", "--data", "sphere:n=60,d=3",
               "--out", str(tmp_path / "s.html"), "--depths", "1,2", "--k", "10", "--quiet"])
    assert rc == 0
    _check_page((tmp_path / "s.html").read_text(encoding="utf-8"))
    rc = main(["report", "relu", "--depth", "2", "--depths", "0,x", "--quiet"])
    assert rc == 2
