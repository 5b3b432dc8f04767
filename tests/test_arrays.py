import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth3d.arrays import sparse_nonzero


@settings(max_examples=60, deadline=None)
@given(mask=arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)),
                   elements=st.sampled_from([False, False, False, True])),
       transposed=st.booleans())
def test_sparse_nonzero_finds_what_nonzero_finds_in_the_same_order(mask, transposed):
    # Sizes that are and are not whole 8-byte words, and a strided view.
    mask = mask.T if transposed else mask
    found = sparse_nonzero(mask)
    expected = np.nonzero(mask)
    for got, wanted in zip(found, expected):
        np.testing.assert_array_equal(got, wanted)


def test_sparse_nonzero_on_a_large_sparse_map():
    mask = np.zeros((512, 640), dtype=bool)
    mask[100:109, 200:209] = True
    mask[511, 639] = mask[0, 0] = True
    rows, columns = sparse_nonzero(mask)
    assert len(rows) == 83
    assert (rows[0], columns[0]) == (0, 0) and (rows[-1], columns[-1]) == (511, 639)
    assert mask[rows, columns].all()

