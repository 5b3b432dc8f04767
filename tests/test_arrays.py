import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth3d.arrays import set_cells


@settings(max_examples=60, deadline=None)
@given(mask=arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)),
                   elements=st.sampled_from([False] * 30 + [True])),
       transposed=st.booleans(), dense=st.booleans())
def test_set_cells_finds_what_nonzero_finds_in_the_same_order(mask, transposed, dense):
    # Sizes that are and are not whole 8-byte words, a strided view, sparse and dense masks.
    mask = ~mask if dense else mask
    mask = mask.T if transposed else mask
    found = set_cells(mask)
    expected = np.nonzero(mask)
    for got, wanted in zip(found, expected):
        np.testing.assert_array_equal(got, wanted)


def test_set_cells_on_a_large_sparse_map():
    mask = np.zeros((512, 640), dtype=bool)
    mask[100:109, 200:209] = True
    mask[511, 639] = mask[0, 0] = True
    rows, columns = set_cells(mask)
    assert len(rows) == 83
    assert (rows[0], columns[0]) == (0, 0) and (rows[-1], columns[-1]) == (511, 639)
    assert mask[rows, columns].all()

