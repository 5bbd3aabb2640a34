"""Which other plate frames complete the chosen one: the mosaic's choice, for
:class:`howard.align.aligner.PlateAligner`.

The chosen plate frame, warped to a subject frame, may leave part of it uncovered. The other
candidate plate frames were matched to the frame already; the keyframes (:class:`Keyframes`)
are matched only when those cannot close the gap. This is a part of the aligner kept in its
own file: it uses the aligner's matching and scoring (``_estimate``, ``_residual``), its
plate window and keyframes, and its ``min_gap`` and ``max_layers`` settings.
"""

from . import homography, mosaic
from .alignment import _rounded

__all__ = ["MosaicSources"]


class MosaicSources:
    """Mixin of :class:`howard.align.aligner.PlateAligner`: :meth:`_mosaic_sources`."""

    def _mosaic_sources(self, index, H, res, kept, frames, centre, src_feat, f, src_small,
                        busy) -> list:
        """The plate frames to lay into what plate frame ``index`` (by ``H``, residual
        ``res``) leaves uncovered, as ``(plate_index, rgb, H)``, the first laid in first.

        The other surviving candidates come with homographies from the matching already
        done; the keyframes are matched only when those cannot close the gap. A frame
        qualifies when it explains the frame's background nearly as well as the chosen one
        (a misaligned frame would only move the seam); among those, the one covering most of
        what is still uncovered goes next (nearer in time on a tie), up to
        ``max_layers``. Judged on the scoring copies.
        """
        small = src_small.shape[:2]
        gap = ~mosaic.coverage(homography.rescale_homography(H, f), small)
        least = self.min_gap * gap.size
        if gap.sum() <= least:
            return []
        # a plate frame that explains the background much worse than the chosen one is
        # misaligned or sees the scene from elsewhere (parallax); both are judged where the
        # chosen one covers the frame (the rest may hold the subject, with no mask yet)
        worst, judged = 2.0 * res + 1.0, busy | gap

        def fits(frame, Hc):
            return self._residual(frame, Hc, f, src_small, judged) <= worst

        pool = [(i, frames[i], Hc, n) for _, i, Hc, n in kept
                if i != index and fits(frames[i], Hc)]
        covers = {i: mosaic.coverage(homography.rescale_homography(Hc, f), small)
                  for i, _, Hc, _ in pool}
        left = gap.copy()
        for i in covers:
            left &= ~covers[i]
        if left.sum() > least:  # the candidates cannot close it: match the keyframes too
            keys = self.keyframes.around(centre)
            for k in sorted((k for k in keys if k not in frames),
                            key=lambda k: (abs(k - index), k)):
                frame = keys[k] if keys[k].features is not None else \
                    self.plates.describe(keys[k])
                Hk, n, why = self._estimate(frame, src_feat, H)
                if why is None and fits(frame, Hk):
                    pool.append((k, frame, Hk, n))
                    covers[k] = mosaic.coverage(homography.rescale_homography(Hk, f), small)
        sources = []
        while pool and len(sources) < self.max_layers and gap.sum() > least:
            gains = [int((covers[c[0]] & gap).sum()) for c in pool]
            pick = max(range(len(pool)), key=lambda j: (gains[j], -abs(pool[j][0] - index),
                                                        -pool[j][0]))
            if gains[pick] <= least:
                break
            i, frame, Hi, n = pool.pop(pick)
            # not polished by ECC as the chosen frame is: on the --coverage 0.1 evaluation
            # clips polishing changed SAD by 0.03 % at 40 % more alignment time
            sources.append((i, frame.rgb, _rounded(Hi)))
            gap &= ~covers[i]
        return sources
