#!/usr/bin/env python3
"""Plots the samples of a soak run (scripts/soak.sh's soak.csv) as one SVG.

Usage: scripts/plot-soak.py SOAK_CSV OUT_SVG

Three panels over the run's time: private resident memory (MiB) of each
daemon and the resident memory of the largest guest process; open fds of each daemon; the run's
shared-memory objects and processes. Written by hand with the standard
library alone, so that plotting a run needs nothing installed beyond the
Python that Debian ships.
"""
import csv
import sys

WIDTH, PANEL_HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, GAP = 900, 220, 70, 190, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def panel(rows, top, title, series, unit_scale=1.0):
    """One panel's SVG elements: `series` is a list of (label, column)."""
    xs = [float(r["seconds"]) for r in rows]
    values = [[float(r[col]) * unit_scale for r in rows] for _, col in series]
    x_max = max(xs) or 1.0
    y_max = max(max(v) for v in values) * 1.15 or 1.0
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = PANEL_HEIGHT - 40

    def sx(x):
        return MARGIN_LEFT + x / x_max * plot_w

    def sy(y):
        return top + 25 + plot_h - y / y_max * plot_h

    out = [f'<text x="{MARGIN_LEFT}" y="{top + 15}" font-weight="bold">{title}</text>',
           f'<rect x="{MARGIN_LEFT}" y="{top + 25}" width="{plot_w}" height="{plot_h}" '
           'fill="none" stroke="#888"/>']
    for i in range(5):
        y = y_max * i / 4
        out.append(f'<text x="{MARGIN_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{y:.0f}</text>')
        out.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{sy(y):.1f}" '
                   f'y2="{sy(y):.1f}" stroke="#eee"/>')
    for i in range(6):
        x = x_max * i / 5
        out.append(f'<text x="{sx(x):.1f}" y="{top + 25 + plot_h + 14}" text-anchor="middle" '
                   f'font-size="11">{x / 60:.0f} min</text>')
    for k, ((label, _), ys) in enumerate(zip(series, values)):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                   'stroke-width="1.5"/>')
        out.append(f'<text x="{MARGIN_LEFT + plot_w + 10}" y="{top + 40 + 16 * k}" '
                   f'fill="{colour}" font-size="12">{label}</text>')
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot-soak.py SOAK_CSV OUT_SVG")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{sys.argv[1]}: no samples")
    mib = 1 / 1024
    panels = [
        ("Private resident memory, RssAnon (MiB); the largest guest's VmRSS",
         [("pvsim-hypervisor", "hypervisor_private_kib"),
          ("pvsim-xenstored", "xenstored_private_kib"),
          ("dom0 pvsim-backend", "backend_private_kib"), ("largest guest", "guest_rss_kib_max")],
         mib),
        ("Open fds",
         [("pvsim-hypervisor", "hypervisor_fds"), ("pvsim-xenstored", "xenstored_fds"),
          ("dom0 pvsim-backend", "backend_fds")], 1.0),
        ("The run's shared-memory objects and processes",
         [("shm objects", "shm_objects"), ("processes", "processes")], 1.0),
    ]
    height = len(panels) * (PANEL_HEIGHT + GAP)
    body = []
    for i, (title, series, scale) in enumerate(panels):
        body += panel(rows, i * (PANEL_HEIGHT + GAP), title, series, scale)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="sans-serif" font-size="13">\n'
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n' + "\n".join(body) +
           "\n</svg>\n")
    with open(sys.argv[2], "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
