"""Screenshot of a run's results page in headless Chromium (the README's docs/report.png).

    python scripts/screenshot_report.py [outputs/report/index.html] [docs/report.png]

Needs Debian's ``chromium`` and ``chromium-driver`` (as tests/dag/test_report.py does). The
driver is given explicitly, so selenium never looks for one on the network.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def screenshot(page: Path, out: Path, width: int = 1300, height: int = 2000) -> None:
    os.environ.setdefault("SE_AVOID_STATS", "true")  # no usage statistics sent by selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit(
            "chromium and chromium-driver are missing: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(page.resolve().as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


if __name__ == "__main__":
    args = sys.argv[1:]
    page = Path(args[0] if args else "outputs/report/index.html")
    screenshot(page, Path(args[1] if len(args) > 1 else "docs/report.png"))
