#!/usr/bin/env python3
"""Writes the small .npy fixtures of Tests/ONNXTests/NPYTests.swift with numpy (run from any folder)."""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    path = os.path.join(here, name)
    if version is None:
        np.save(path, array)
    else:
        with open(path, "wb") as handle:
            np.lib.format.write_array(handle, array, version=version)


save("f32_2x3.npy", (np.arange(6, dtype="<f4").reshape(2, 3) / 4 - 0.5).astype("<f4"))
save("f64_3.npy", np.array([1.5, -2.25, 1e300], dtype="<f8"))
save("i64_2x2.npy", np.array([[-1, 2**40], [3, -(2**62)]], dtype="<i8"))
save("i32_4.npy", np.array([-7, 0, 7, 2**31 - 1], dtype="<i4"))
save("u8_2x2x2.npy", (np.arange(8) * 30).astype("u1").reshape(2, 2, 2))
save("bool_5.npy", np.array([True, False, True, True, False]))
save("f32_scalar.npy", np.array(3.5, dtype="<f4"))
save("f32_empty.npy", np.zeros((0, 3), dtype="<f4"))
save("f32_v2.npy", np.arange(4, dtype="<f4"), version=(2, 0))
save("f32_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("f32_bigendian.npy", np.arange(3, dtype=">f4"))
