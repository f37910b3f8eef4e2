"""``resode report``: one self-contained page with every section and embedded figures."""

import base64
import io
import re

from PIL import Image

from resode.cli import main
from resode.runs.report import SECTIONS

TINY = ["--data", "circles", "--steps", "3", "--width", "5", "--epochs", "2", "--quiet"]


def test_report_holds_every_section_and_embeds_decodable_images(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--steps", "3,6"]) == 0
    assert main(["stability", str(run), "--samples", "16"]) == 0
    assert main(["gradients", str(run), "--samples", "16"]) == 0
    assert main(["robustness", str(run), "--samples", "16", "--attacks", "pgd:3"]) == 0
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "not computed" not in page and "verdict" in page and "Lipschitz constant" in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 1 + len(list(run.glob("*.png")))  # curves + the run's figures
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        image.verify()
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from a network


def test_report_says_what_was_not_computed(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.count("not computed") == 4
    assert main(["report", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
