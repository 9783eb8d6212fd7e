"""Which namespace and device a client-suite run uses, from the environment that
conformance/clients/run sets: CLIENT_BACKEND (arraylib or array_api_strict) and
CLIENT_DEVICE (cpu, strict:device1, strict:no_float64)."""
import os

BACKEND = os.environ.get("CLIENT_BACKEND", "arraylib")
DEVICE = os.environ.get("CLIENT_DEVICE", "cpu")
NO_FLOAT64 = DEVICE == "strict:no_float64"

# array_api_strict's counterpart of each arraylib device.
STRICT_DEVICE = {"cpu": "CPU_DEVICE", "strict:device1": "device1",
                 "strict:no_float64": "no_float64"}[DEVICE]


def float_dtypes():
    return ("float32",) if NO_FLOAT64 else ("float64", "float32")


def namespace():
    """The namespace module under test, its default device set to the run's device and,
    for arraylib on a device with float64, its default float set to float64: the
    clients' tests assume NumPy's default float (as array_api_strict has it), e.g.
    scikit-learn's ``mean_proba = xp.zeros(...); mean_proba += float64_proba``."""
    if BACKEND == "arraylib":
        import arraylib
        arraylib.set_default_device(DEVICE)
        if not NO_FLOAT64:
            arraylib.set_default_dtype(arraylib.float64)
        return arraylib
    import array_api_strict
    array_api_strict.set_array_api_strict_flags(api_version="2025.12")
    return array_api_strict


def device_object():
    """The run's device as the namespace's own Device object."""
    xp = namespace()
    if BACKEND == "arraylib":
        return xp.Device(DEVICE)
    return xp.Device(STRICT_DEVICE)
