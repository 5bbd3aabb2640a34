"""The two threads that feed the network: one reads subject frames and chooses a plate frame
and homography for each, the other renders the chosen plates (warp, colour, mosaic,
parallax); and the single-threaded producer that does both in turn (``workers=0``).

Items go down bounded queues as ``(index, frame, Alignment)``; an exception in a producer is
handed down the line to the consumer, which re-raises it; ``DONE`` ends the stream.
"""

import queue
import threading
import time

from .align.parallax import correct_alignment as correct_parallax
from .stages import Stopped, yield_to_network

DONE = object()


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """``q.put(item)``, giving up once ``stop`` is set (the consumer has gone)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def choose_plates(subject, aligner, start, end, lag, board, out_q, stop, background):
    """First producer thread: subject frames ``[start, end)``, each with its plate frame and
    homography chosen (:meth:`PlateAligner.choose`)."""
    if background:
        yield_to_network()
    try:
        for index, frame in subject.frames(start):
            if stop.is_set() or index >= end:
                break
            mask = board.get(index - lag)
            started = time.perf_counter()
            result = aligner.choose(index, frame, mask)
            result.seconds = time.perf_counter() - started
            _put(out_q, (index, frame, result), stop)
        _put(out_q, DONE, stop)
    except Stopped:
        _put(out_q, DONE, stop)
    except BaseException as e:  # handed down the line to the consumer, which re-raises it
        _put(out_q, e, stop)


def render_plates(aligner, in_q, out_q, stop, background, parallax=False):
    """Second producer thread: renders each chosen plate (:meth:`PlateAligner.render`)
    while the first chooses for the next frame, so the two halves of the work use two
    cores between network passes."""
    if background:
        yield_to_network()
    try:
        while not stop.is_set():
            try:
                item = in_q.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is DONE or isinstance(item, BaseException):
                _put(out_q, item, stop)
                return
            index, frame, result = item
            started = time.perf_counter()
            _render(aligner, result, frame, parallax)
            result.seconds += time.perf_counter() - started
            _put(out_q, (index, frame, result), stop)
    except BaseException as e:
        _put(out_q, e, stop)


def _render(aligner, result, frame, parallax: bool) -> None:
    """The plate of a chosen ``result`` warped, colour-matched and, with ``parallax``,
    corrected for what the homography leaves (the same on every path through the loop)."""
    busy = result.busy
    aligner.render(result, frame)
    if parallax:
        correct_parallax(result, frame, busy)


def inline(subject, aligner, start, end, lag, board, parallax=False):
    """The single-threaded producer (``workers=0``)."""
    for index, frame in subject.frames(start):
        if index >= end:
            break
        mask = board.get(index - lag)
        t = time.perf_counter()
        result = aligner.choose(index, frame, mask)
        _render(aligner, result, frame, parallax)
        result.seconds = time.perf_counter() - t
        yield index, frame, result
