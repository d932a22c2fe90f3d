package ai.convoy.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuStreamCreate;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * One GPU: its context and stream, and its memory: allocations counted (held and peak), out-of-memory told apart by
 * the driver's error code, uploads, and the free memory the driver reports.
 */
final class CudaDevice {
    private final int index;
    private final String name;
    private final int computeMajor;
    private final int multiprocessors;
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final Map<CUdeviceptr, Long> allocations = new IdentityHashMap<>();
    private long allocatedBytes;
    private long peakBytes;

    CudaDevice(int index) {
        this.index = index;
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        CUdevice device = new CUdevice();
        cuDeviceGet(device, index);
        byte[] raw = new byte[256];
        cuDeviceGetName(raw, raw.length, device);
        this.name = new String(raw).trim();
        this.computeMajor = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.multiprocessors = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        cuCtxCreate(context, 0, device);
        cuStreamCreate(stream, 0);
    }

    private static int attribute(CUdevice device, int attribute) {
        int[] value = new int[1];
        JCudaDriver.cuDeviceGetAttribute(value, attribute, device);
        return value[0];
    }

    /** "cuda:N". */
    String id() {
        return "cuda:" + index;
    }

    String name() {
        return name;
    }

    int computeMajor() {
        return computeMajor;
    }

    int multiprocessors() {
        return multiprocessors;
    }

    CUstream stream() {
        return stream;
    }

    /** Makes this device's context current: stage actors call a backend from whichever thread runs them. */
    void current() {
        cuCtxSetCurrent(context);
    }

    CUdeviceptr alloc(long bytes, DeviceOutOfMemoryException.Use use) {
        current();
        CUdeviceptr p = new CUdeviceptr();
        long size = Math.max(bytes, 4);
        try {
            cuMemAlloc(p, size);
        } catch (CudaException e) {
            if (errorCode(e) == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
                throw new DeviceOutOfMemoryException(id(), use, bytes, freeBytes(), allocatedBytes);
            }
            throw e;
        }
        synchronized (this) {
            allocations.put(p, size);
            allocatedBytes += size;
            peakBytes = Math.max(peakBytes, allocatedBytes);
        }
        return p;
    }

    /** The CUresult a failed driver call ended with: JCuda's exception carries the code's name, nothing else. */
    static int errorCode(CudaException e) {
        return Arrays.stream(CUresult.class.getFields()).filter(f -> f.getType() == int.class).mapToInt(f -> {
            try {
                return f.getInt(null);
            } catch (IllegalAccessException unreachable) {
                throw new IllegalStateException(unreachable);
            }
        }).filter(code -> CUresult.stringFor(code).equals(e.getMessage())).findFirst().orElse(-1);
    }

    void free(CUdeviceptr p) {
        current();
        cuMemFree(p);
        synchronized (this) {
            Long bytes = allocations.remove(p);
            if (bytes != null) {
                allocatedBytes -= bytes;
            }
        }
    }

    /** Free device memory as the driver counts it (other processes' use taken out), or -1 when it cannot say. */
    long freeBytes() {
        try {
            long[] free = new long[1];
            long[] total = new long[1];
            JCudaDriver.cuMemGetInfo(free, total);
            return free[0];
        } catch (CudaException e) {
            return -1;
        }
    }

    /** Device memory held now. */
    synchronized long heldBytes() {
        return allocatedBytes;
    }

    /** The most device memory held at once: weights, KV cache and workspace. */
    synchronized long peakBytes() {
        return peakBytes;
    }

    CUdeviceptr upload(MemorySegment data, DeviceOutOfMemoryException.Use use) {
        CUdeviceptr p = alloc(data.byteSize(), use);
        long chunk = 1L << 30;
        for (long at = 0; at < data.byteSize(); at += chunk) {
            long n = Math.min(chunk, data.byteSize() - at);
            ByteBuffer b = data.asSlice(at, n).asByteBuffer();
            cuMemcpyHtoD(p.withByteOffset(at), Pointer.to(b), n);
        }
        return p;
    }

    CUdeviceptr upload(float[] values, DeviceOutOfMemoryException.Use use) {
        CUdeviceptr p = alloc(4L * values.length, use);
        cuMemcpyHtoD(p, Pointer.to(values), 4L * values.length);
        return p;
    }

    void zero(CUdeviceptr p, long bytes) {
        current();
        JCudaDriver.cuMemsetD8(p, (byte) 0, bytes);
    }

    /** Device-to-device copy bandwidth (bytes read plus written per second) over {@code bytes}, median of runs. */
    double copyBandwidth(long bytes, int runs) {
        CUdeviceptr a = alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        CUdeviceptr b = alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        try {
            double[] t = new double[runs];
            for (int i = 0; i < runs; i++) {
                cuCtxSynchronize();
                long t0 = System.nanoTime();
                JCudaDriver.cuMemcpyDtoD(i % 2 == 0 ? b : a, i % 2 == 0 ? a : b, bytes);
                cuCtxSynchronize();
                t[i] = (System.nanoTime() - t0) / 1e9;
            }
            Arrays.sort(t);
            return 2.0 * bytes / t[runs / 2];
        } finally {
            free(a);
            free(b);
        }
    }
}
