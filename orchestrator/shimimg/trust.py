"""Which places the repository could have planted, and which folders another user could.

The checkout travels with a pull request: any link inside it may be the attacker's (issue 19). So
an output path is walked component by component, and a link met inside the checkout is refused,
never followed; links above it (``/tmp`` on macOS, a home folder on another disk) are the
machine's and are followed. The cache is refused when another user owns it or may replace what
is in it (as ssh refuses such key files), and when it sits inside the checkout unless the user
asked for that (a CI cache that must live in the project folder).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.fsutil import PlantedLink, link_target


def checkout_root(directory: Path) -> Path:
    """The real path of the git checkout holding ``directory`` (the nearest folder with ``.git``);
    the folder itself when it is in none. Found by looking, not by running git (see ``vcs``)."""
    real = Path(os.path.realpath(directory))
    for candidate in (real, *real.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return real


def inside(path: Path | str, root: Path) -> bool:
    return Path(path) == root or Path(path).is_relative_to(root)


def untrusted_roots(template: Path) -> tuple[Path, ...]:
    """The checkout of the template, and the one the command runs in when that is a git checkout."""
    roots = [checkout_root(Path(template).parent)]
    cwd = checkout_root(Path.cwd())
    if os.path.lexists(cwd / ".git") and cwd not in roots:
        roots.append(cwd)
    return tuple(roots)


def check_output_path(path: Path, roots: Iterable[Path]) -> None:
    """Refuse ``path`` when a component of it inside one of ``roots`` is a symbolic link: the
    repository may have committed ``pinned.yaml`` (or a folder on the way) as a link to a file
    elsewhere. Links outside ``roots`` are the machine's, and followed."""
    roots = tuple(roots)
    current = Path("/")
    # Not os.path.abspath: it drops "link/.." as text, where the kernel goes up from the link's target.
    absolute = Path(path) if Path(path).is_absolute() else Path(os.getcwd()) / path
    for part in absolute.parts[1:]:
        if part in (".", ""):
            continue
        if part == "..":
            current = current.parent  # current is a real path here: links met were resolved or refused
            continue
        nxt = current / part
        try:
            st = os.lstat(nxt)
        except OSError:
            return  # from here on nothing exists: shimimg creates it
        if stat.S_ISLNK(st.st_mode):
            if any(inside(nxt, r) for r in roots):
                raise _link_in_checkout(path, nxt)
            current = Path(os.path.realpath(nxt))
        else:
            current = nxt


def _link_in_checkout(path: Path, link: Path) -> PlantedLink:
    return PlantedLink(
        f"{link} is a symbolic link (to {link_target(link)}) inside the checkout, on the way to {path}; "
        "refusing to write through it",
        hint="a link in the repository may lead anywhere: write to a path without links (e.g. -o in a folder "
             f"outside the checkout), or remove the link (rm {link})",
    )


def check_cache_dir(cache: Path, template_dir: Path, *, allow_in_checkout: bool) -> bool:
    """Refuse a cache folder another user can write; return whether it sits inside the checkout
    (allowed only when ``allow_in_checkout``: then what is recorded there is never trusted)."""
    real = Path(os.path.realpath(cache))
    me = os.geteuid()
    for folder in (real, *real.parents):
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            continue  # shimimg creates it, as this user
        except OSError:
            break
        others = st.st_mode & (0o002 if folder != real else 0o022)
        sticky = st.st_mode & stat.S_ISVTX
        if st.st_uid not in (me, 0) or (folder == real and st.st_uid != me):
            raise ShimimgError(
                f"cache folder {cache}: {folder} belongs to another user (uid {st.st_uid})",
                hint="another user could plant binaries there: use a cache folder of your own "
                     "(--cache-dir or SHIMIMG_CACHE_DIR)")
        if others and not sticky:
            who = "every user" if st.st_mode & 0o002 else "its group"
            raise ShimimgError(
                f"cache folder {cache}: {folder} can be written by {who} (mode {stat.S_IMODE(st.st_mode):o})",
                hint=f"another user could plant binaries there: chmod go-w {folder}, or use another cache "
                     "folder (--cache-dir or SHIMIMG_CACHE_DIR)")
    root = checkout_root(template_dir)
    if not inside(real, root):
        return False
    if not allow_in_checkout:
        raise ShimimgError(
            f"cache folder {cache} is inside the checkout {root}: the repository could commit binaries, records "
            "and links there",
            hint="use a cache folder outside the checkout (--cache-dir or SHIMIMG_CACHE_DIR); if a CI cache must "
                 "live there, pass --cache-in-checkout (or SHIMIMG_CACHE_IN_CHECKOUT=1): nothing recorded in it "
                 "is then reused without rebuilding")
    return True
