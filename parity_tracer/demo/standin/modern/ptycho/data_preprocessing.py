"""Stand-in for modern ``ptycho.data_preprocessing``: simulation orchestration and stitching.

Asserts at import that the outer offsets are set unless ``data_source == 'generic'``.
"""
import numpy as np

from . import params
from . import diffsim as datasets
from .loader import PtychoDataset, PtychoDataContainer
from . import loader
from . import probe

if params.get('outer_offset_train') is None or params.get('outer_offset_test') is None:
    assert params.get('data_source') == 'generic'


def load_simulated_data(size, probe, outer_offset_train, outer_offset_test, jitter_scale, intensity_scale=None):
    np.random.seed(1)
    X_train, Y_I_train, Y_phi_train, intensity_scale, YY_train_full, _, (coords_train_nominal, coords_train_true) = \
        datasets.mk_simdata(params.get('nimgs_train'), size, probe, outer_offset_train,
                            jitter_scale=jitter_scale, which='train')
    params.cfg['intensity_scale'] = intensity_scale

    np.random.seed(2)
    X_test, Y_I_test, Y_phi_test, _, YY_test_full, norm_Y_I_test, (coords_test_nominal, coords_test_true) = \
        datasets.mk_simdata(params.get('nimgs_test'), size, probe, outer_offset_test, intensity_scale,
                            jitter_scale=jitter_scale, which='test')
    return (X_train, Y_I_train, Y_phi_train, X_test, Y_I_test, Y_phi_test, intensity_scale, YY_train_full,
            YY_test_full, norm_Y_I_test, coords_train_nominal, coords_train_true, coords_test_nominal,
            coords_test_true)


def load_generic_data(probeGuess, N):
    from .raw_data import RawData
    train_raw = RawData.from_file(params.get('train_data_file_path'))
    test_raw = RawData.from_file(params.get('test_data_file_path'))
    gridsize = params.get('gridsize', 1)
    dset_train = train_raw.generate_grouped_data(N, K=7, nsamples=1, gridsize=gridsize)
    dset_test = test_raw.generate_grouped_data(N, K=7, nsamples=1, gridsize=gridsize)
    train_data_container = loader.load(lambda: dset_train, probeGuess, which=None, create_split=False)
    test_data_container = loader.load(lambda: dset_test, probeGuess, which=None, create_split=False)
    return train_data_container, test_data_container


def shuffle_data(X, Y_I, Y_phi, random_state=0):
    """Stand-in for ``sklearn.utils.shuffle(random_state=0)``."""
    indices_shuffled = np.random.RandomState(random_state).permutation(len(Y_I))
    return X[indices_shuffled], Y_I[indices_shuffled], Y_phi[indices_shuffled], indices_shuffled


def get_clip_sizes(outer_offset):
    N = params.cfg['N']
    gridsize = params.cfg['gridsize']
    offset = params.cfg['offset']
    bordersize = (N - outer_offset / 2) / 2
    borderleft = int(np.ceil(bordersize))
    borderright = int(np.floor(bordersize))
    clipsize = (bordersize + ((gridsize - 1) * offset) // 2)
    clipleft = int(np.ceil(clipsize))
    clipright = int(np.floor(clipsize))
    return borderleft, borderright, clipleft, clipright


def get_clipped_object(YY_full, outer_offset):
    borderleft, borderright, clipleft, clipright = get_clip_sizes(outer_offset)
    extra_size = (YY_full.shape[1] - (params.cfg['N'] + (params.cfg['gridsize'] - 1) * params.cfg['offset'])) \
        % (outer_offset // 2)
    if extra_size > 0:
        YY_ground_truth = YY_full[:, :-extra_size, :-extra_size]
    else:
        YY_ground_truth = YY_full
    return YY_ground_truth[:, clipleft:-clipright, clipleft:-clipright]


def stitch_data(b, norm_Y_I_test=1, norm=True, part='amp', outer_offset=None, nimgs=None):
    """(nimgs*nseg^2, N, N, 1) patches -> (nimgs, S, S, 1), S = nseg * outer_offset / 2."""
    if params.get('gridsize') == 1:
        raise ValueError("Grid-based stitching is not supported for gridsize=1 (non-grid mode). "
                         "Use ptycho.image.reassemble_patches or tf_helper.reassemble_position.")
    if nimgs is None:
        nimgs = params.get('nimgs_test')
    if outer_offset is None:
        outer_offset = params.get('outer_offset_test')
    b = np.asarray(b)
    N = params.cfg['N']
    nsegments = int(np.sqrt((b.size / nimgs) / (N ** 2)))
    if part == 'amp':
        getpart = np.absolute
    elif part == 'phase':
        getpart = np.angle
    elif part == 'complex':
        getpart = lambda x: x  # noqa: E731
    else:
        raise ValueError
    scale = norm_Y_I_test if norm else 1
    img_recon = np.reshape(scale * getpart(b), (-1, nsegments, nsegments, N, N, 1))
    borderleft, borderright, clipleft, clipright = get_clip_sizes(outer_offset)
    img_recon = img_recon[:, :, :, borderleft:-borderright, borderleft:-borderright, :]
    tmp = img_recon.transpose(0, 1, 3, 2, 4, 5)
    return tmp.reshape(-1, np.prod(tmp.shape[1:3]), np.prod(tmp.shape[1:3]), 1)


def reassemble(b, norm_Y_I=1., part='amp', **kwargs):
    return stitch_data(b, norm_Y_I, norm=False, part=part, **kwargs)


def process_simulated_data(X_train, Y_I_train, Y_phi_train, X_test, Y_I_test, Y_phi_test, YY_test_full,
                           outer_offset_test):
    X_train, Y_I_train, Y_phi_train, indices_shuffled = shuffle_data(
        np.array(X_train), np.array(Y_I_train), np.array(Y_phi_train))
    if params.get('outer_offset_train') is not None:
        YY_ground_truth = get_clipped_object(YY_test_full, outer_offset_test)[0, ...]
    else:
        YY_ground_truth = None
    return X_train, Y_I_train, Y_phi_train, YY_ground_truth


def create_ptycho_dataset(X_train, Y_I_train, Y_phi_train, intensity_scale, YY_train_full, coords_train_nominal,
                          coords_train_true, X_test, Y_I_test, Y_phi_test, YY_test_full, coords_test_nominal,
                          coords_test_true):
    # note: norm_Y_I slot receives the train intensity_scale, not the object norm
    return PtychoDataset(
        PtychoDataContainer(X_train, Y_I_train, Y_phi_train, intensity_scale, YY_train_full, coords_train_nominal,
                            coords_train_true, None, None, None, probe.get_probe(params)),
        PtychoDataContainer(X_test, Y_I_test, Y_phi_test, intensity_scale, YY_test_full, coords_test_nominal,
                            coords_test_true, None, None, None, probe.get_probe(params)),
    )


def generate_data(probeGuess=None):
    """Returns (X_train, Y_I_train, Y_phi_train, X_test, Y_I_test, Y_phi_test, YY_ground_truth,
    ptycho_dataset, YY_test_full, norm_Y_I_test). ``probeGuess`` is ignored for simulated data."""
    data_source = params.params()['data_source']
    probe_np = probe.get_probe(params)
    outer_offset_train = params.cfg['outer_offset_train']
    outer_offset_test = params.cfg['outer_offset_test']
    YY_test_full = None
    norm_Y_I_test = None
    if data_source in ['lines', 'grf', 'points', 'testimg', 'diagonals', 'V']:
        size = params.cfg['size']
        (X_train, Y_I_train, Y_phi_train, X_test, Y_I_test, Y_phi_test, intensity_scale, YY_train_full,
         YY_test_full, norm_Y_I_test, coords_train_nominal, coords_train_true, coords_test_nominal,
         coords_test_true) = load_simulated_data(size, probe_np, outer_offset_train, outer_offset_test,
                                                 params.params()['sim_jitter_scale'])
        X_train, Y_I_train, Y_phi_train, YY_ground_truth = process_simulated_data(
            X_train, Y_I_train, Y_phi_train, X_test, Y_I_test, Y_phi_test, YY_test_full, outer_offset_test)
        ptycho_dataset = create_ptycho_dataset(
            X_train, Y_I_train, Y_phi_train, intensity_scale, YY_train_full, coords_train_nominal,
            coords_train_true, X_test, Y_I_test, Y_phi_test, YY_test_full, coords_test_nominal, coords_test_true)
    elif data_source == 'generic':
        train_data_container, test_data_container = load_generic_data(probeGuess, params.cfg['N'])
        intensity_scale = train_data_container.norm_Y_I
        ptycho_dataset = PtychoDataset(train_data_container, test_data_container)
        YY_ground_truth = None
    else:
        raise ValueError("Invalid data source")

    params.cfg['intensity_scale'] = intensity_scale
    return (ptycho_dataset.train_data.X, ptycho_dataset.train_data.Y_I, ptycho_dataset.train_data.Y_phi,
            ptycho_dataset.test_data.X, ptycho_dataset.test_data.Y_I, ptycho_dataset.test_data.Y_phi,
            YY_ground_truth, ptycho_dataset, YY_test_full, norm_Y_I_test)
