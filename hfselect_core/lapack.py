"""The few BLAS/LAPACK routines LogME scoring needs, called so that they release the GIL.

scipy's ``scipy.linalg.lapack`` wrappers hold the GIL for the whole call, so threads scoring
several ESMs at once would run one after the other, and scipy does not wrap ``dormtr`` at all.
scipy also exports every routine of the LAPACK/BLAS it is linked with as a C function pointer
(``scipy.linalg.cython_lapack`` / ``cython_blas``); calling those pointers through ``ctypes``
releases the GIL and uses exactly the library scipy uses. All arrays are float64, Fortran order.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

_P = ctypes.c_void_p
_ARG_COUNTS = {
    "dsytrd": 10,
    "dormtr": 13,
    "dsterf": 4,
    "dgtsv": 8,
    "dpotrf": 5,
    "dtrmm": 11,
    "dsyrk": 10,
}


class LapackError(RuntimeError):
    """A LAPACK routine reported a failure (its ``info`` was not 0)."""


@cache
def _routine(name: str):
    import scipy.linalg.cython_blas as cython_blas
    import scipy.linalg.cython_lapack as cython_lapack

    module = cython_blas if name in ("dtrmm", "dsyrk") else cython_lapack
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    # CFUNCTYPE (not PYFUNCTYPE): ctypes releases the GIL around the call.
    return ctypes.CFUNCTYPE(None, *([_P] * _ARG_COUNTS[name]))(address)


def _int(value: int):
    return ctypes.byref(ctypes.c_int(int(value)))


def _char(value: str):
    return ctypes.byref(ctypes.c_char(value.encode()))


def _double(value: float):
    return ctypes.byref(ctypes.c_double(float(value)))


def _ptr(array: np.ndarray) -> int:
    if array.dtype != np.float64 or not (array.flags.f_contiguous or array.ndim == 1):
        raise ValueError("LAPACK arrays must be float64 in Fortran order")
    return array.ctypes.data


def _check(name: str, info: ctypes.c_int) -> None:
    if info.value != 0:
        raise LapackError(f"{name} failed (info={info.value})")


def cholesky_lower(a: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a symmetric positive definite matrix, or None when it is not."""
    factor = np.array(a, dtype=np.float64, order="F", copy=True)
    n = factor.shape[0]
    info = ctypes.c_int(0)
    _routine("dpotrf")(_char("L"), _int(n), _ptr(factor), _int(n), ctypes.byref(info))
    if info.value != 0:
        return None
    factor[np.triu_indices(n, 1)] = 0.0  # dpotrf leaves the input's upper triangle there
    return factor


def right_multiply_lower(b: np.ndarray, lower: np.ndarray) -> None:
    """``b <- b @ lower`` in place, for a lower-triangular square ``lower`` (BLAS dtrmm)."""
    m, n = b.shape
    _routine("dtrmm")(
        _char("R"), _char("L"), _char("N"), _char("N"), _int(m), _int(n), _double(1.0), _ptr(lower), _int(n),
        _ptr(b), _int(m),
    )  # fmt: skip


def gram_lower(k: np.ndarray) -> np.ndarray:
    """The lower triangle of ``k @ k.T`` (BLAS dsyrk); the upper triangle is left at zero."""
    m, inner = k.shape
    out = np.zeros((m, m), dtype=np.float64, order="F")
    _routine("dsyrk")(
        _char("L"), _char("N"), _int(m), _int(inner), _double(1.0), _ptr(k), _int(m), _double(0.0), _ptr(out), _int(m)
    )
    return out


def tridiagonalize(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Householder reduction ``a = Q T Q^T`` of a symmetric matrix given by its lower triangle.

    ``a`` is overwritten with the reflectors that define Q. Returns the diagonal and the
    off-diagonal of T and the reflectors' scalar factors.
    """
    n = a.shape[0]
    diag, off, tau = np.empty(n), np.empty(max(n - 1, 0)), np.empty(max(n - 1, 1))
    lwork = max(1, 64 * n)
    work = np.empty(lwork)
    info = ctypes.c_int(0)
    _routine("dsytrd")(
        _char("L"), _int(n), _ptr(a), _int(n), _ptr(diag), _ptr(off), _ptr(tau), _ptr(work), _int(lwork),
        ctypes.byref(info),
    )  # fmt: skip
    _check("dsytrd", info)
    return diag, off, tau


def apply_qt(reflectors: np.ndarray, tau: np.ndarray, c: np.ndarray) -> None:
    """``c <- Q^T c`` in place, with Q from :func:`tridiagonalize` (LAPACK dormtr)."""
    n, columns = c.shape
    if n < 2:
        return
    lwork = max(1, 64 * columns)
    work = np.empty(lwork)
    info = ctypes.c_int(0)
    _routine("dormtr")(
        _char("L"), _char("L"), _char("T"), _int(n), _int(columns), _ptr(reflectors), _int(n), _ptr(tau), _ptr(c),
        _int(n), _ptr(work), _int(lwork), ctypes.byref(info),
    )  # fmt: skip
    _check("dormtr", info)


def tridiagonal_eigenvalues(diag: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric tridiagonal matrix, ascending (LAPACK dsterf, no vectors)."""
    values, e = np.array(diag, dtype=np.float64), np.array(off, dtype=np.float64)
    info = ctypes.c_int(0)
    _routine("dsterf")(_int(len(values)), _ptr(values), _ptr(e) if len(e) else _ptr(np.empty(1)), ctypes.byref(info))
    _check("dsterf", info)
    return values


def solve_shifted_tridiagonal(diag: np.ndarray, off: np.ndarray, shifts: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(T + shifts[j] I) x_j = rhs[:, j]`` for every column j at once.

    The C systems are stacked into one block-diagonal tridiagonal system of size C x n (blocks
    coupled by zeros), so one LAPACK dgtsv call solves them all in O(C n).
    """
    n, columns = rhs.shape
    size = n * columns
    d = (diag[None, :] + shifts[:, None]).ravel()
    couplings = np.zeros((columns, n))
    couplings[:, : n - 1] = off
    sub = couplings.ravel()[: size - 1].copy()
    sup = sub.copy()
    b = np.array(rhs.T, dtype=np.float64).ravel()
    info = ctypes.c_int(0)
    _routine("dgtsv")(_int(size), _int(1), _ptr(sub), _ptr(d), _ptr(sup), _ptr(b), _int(size), ctypes.byref(info))
    _check("dgtsv", info)
    return b.reshape(columns, n).T
