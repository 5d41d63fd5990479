"""Stand-in for ``ptycho.image.stitching``: NumPy stitching with the config passed as a dict."""
import numpy as np


def stitch_patches(patches, config, *, norm_Y_I: float = 1.0, norm: bool = True, part: str = 'amp') -> np.ndarray:
    """(nimgs*nseg^2, N, N, 1) patches -> (nimgs, S, S, 1) using config N/gridsize/offset/nimgs_test."""
    N = config['N']

    def get_clip_sizes(outer_offset):
        bordersize = (N - outer_offset / 2) / 2
        borderleft = int(np.ceil(bordersize))
        borderright = int(np.floor(bordersize))
        clipsize = (bordersize + ((config['gridsize'] - 1) * config['offset']) // 2)
        return borderleft, borderright, int(np.ceil(clipsize)), int(np.floor(clipsize))

    patches = np.asarray(patches)
    outer_offset = config.get('outer_offset_test', config.get('offset', 0))
    if outer_offset is None:
        outer_offset = 0
    nsegments = int(np.sqrt((patches.size / config['nimgs_test']) / (N ** 2)))
    if part == 'amp':
        getpart = np.absolute
    elif part == 'phase':
        getpart = np.angle
    elif part == 'complex':
        getpart = lambda x: x  # noqa: E731
    else:
        raise ValueError("part must be 'amp', 'phase', or 'complex'")
    scale = norm_Y_I if norm else 1
    img_recon = np.reshape(scale * getpart(patches), (-1, nsegments, nsegments, N, N, 1))
    borderleft, borderright, clipleft, clipright = get_clip_sizes(outer_offset)
    img_recon = img_recon[:, :, :, borderleft:-borderright, borderleft:-borderright, :]
    tmp = img_recon.transpose(0, 1, 3, 2, 4, 5)
    return tmp.reshape(-1, np.prod(tmp.shape[1:3]), np.prod(tmp.shape[1:3]), 1)


def reassemble_patches(patches, config, *, norm_Y_I=1., part='amp', norm=False):
    return stitch_patches(patches, config, norm_Y_I=norm_Y_I, norm=norm, part=part)
