package ai.convoy.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.DType;
import ai.convoy.kernels.cuda.ProductDispatch.Route;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/** The choice of kernel for each product, without a GPU: routes by format and rows, launches shared, names that exist. */
class ProductDispatchTest {
    static final ProductDispatch H100 = new ProductDispatch(true, true);
    static final CUdeviceptr BOOK = new CUdeviceptr();
    static final CUdeviceptr OTHER_BOOK = new CUdeviceptr().withByteOffset(64);

    static CudaMatrix.FourBit fourBit(int rows, int cols, int blocksize, boolean tiled, CUdeviceptr codebook) {
        return new CudaMatrix.FourBit(rows, cols, 0, CudaMatrix.NONE, CudaMatrix.NONE, codebook, blocksize, tiled);
    }

    static CudaMatrix.Dense dense(DType dtype, int rows, int cols) {
        return new CudaMatrix.Dense(rows, cols, 0, dtype, CudaMatrix.NONE);
    }

    @Test
    void routesByFormatRowsAndWhatTheGpuHas() {
        CudaMatrix.FourBit tiled = fourBit(4096, 4096, 64, true, BOOK);
        CudaMatrix.FourBit plain = fourBit(4096, 1000, 64, false, BOOK);
        CudaMatrix.Dense bf16 = dense(DType.BF16, 4096, 4096);
        ProductDispatch noTensorCores = new ProductDispatch(false, true);
        ProductDispatch noCublas = new ProductDispatch(true, false);
        for (int rows = 1; rows <= 600; rows++) {
            Route fourBitOnH100 = rows <= 4 ? Route.DECODE : rows <= 64 ? Route.TENSOR_CORES : Route.CUBLAS;
            assertEquals(fourBitOnH100, H100.route(rows, tiled), rows + " rows");
            assertEquals(rows <= 8 ? Route.DECODE : Route.CUBLAS, noTensorCores.route(rows, tiled), rows + " rows, no tensor cores");
            assertEquals(rows <= 4 || rows > 64 ? Route.DECODE : Route.TENSOR_CORES, noCublas.route(rows, tiled), rows + " rows, no cuBLAS");
            assertEquals(rows <= 8 ? Route.DECODE : Route.CUBLAS, H100.route(rows, bf16), rows + " rows of bf16");
            assertEquals(Route.GENERIC, H100.route(rows, plain), "four-bit rows of no whole tiles");
            assertEquals(Route.GENERIC, H100.route(rows, dense(DType.F32, 64, 64)));
            assertEquals(Route.GENERIC, H100.route(rows, dense(DType.BF16, 64, 60)), "bf16 rows of no whole 16-byte loads");
            assertEquals(Route.GENERIC, H100.route(rows, new CudaMatrix.Int8(64, 64, 0, CudaMatrix.NONE, CudaMatrix.NONE)));
        }
    }

    @Test
    void productsOfOneInputShareALaunchOnlyWhenOneKernelTakesThemAll() {
        CudaMatrix[] trio = {fourBit(4096, 4096, 64, true, BOOK), fourBit(1024, 4096, 64, true, BOOK), fourBit(1024, 4096, 64, true, BOOK)};
        assertTrue(H100.oneLaunch(1, trio));
        assertTrue(H100.oneLaunch(40, trio), "the tensor cores' trio");
        assertFalse(H100.oneLaunch(100, trio), "cuBLAS takes one product at a time");
        assertFalse(new ProductDispatch(true, false).oneLaunch(100, trio), "the decode kernels take 8 rows at a time");
        assertFalse(H100.oneLaunch(1, new CudaMatrix[] {trio[0], fourBit(1024, 4096, 64, true, OTHER_BOOK)}), "two codebooks");
        assertFalse(H100.oneLaunch(1, new CudaMatrix[] {trio[0], fourBit(1024, 4096, 256, true, BOOK)}), "two block sizes");
        assertFalse(H100.oneLaunch(1, new CudaMatrix[] {trio[0]}), "one product");
        CudaMatrix[] four = {trio[0], trio[1], trio[2], trio[1]};
        assertFalse(H100.oneLaunch(1, four), "more than a trio");

        assertTrue(H100.swigluInOneLaunch(3, trio[1], trio[2]));
        assertFalse(H100.swigluInOneLaunch(16, trio[1], trio[2]), "the tensor cores make gate and up, then a kernel combines them");
        assertTrue(H100.swigluInOneLaunch(8, dense(DType.BF16, 256, 512), dense(DType.BF16, 256, 512)));
        assertFalse(H100.swigluInOneLaunch(1, dense(DType.BF16, 256, 512), dense(DType.F32, 256, 512)), "two formats");
    }

    @Test
    void variantsByRowsAndWidth() {
        assertEquals(1, ProductDispatch.matvec(1).rows());
        assertEquals(4, ProductDispatch.matvec(3).rows());
        assertEquals(8, ProductDispatch.matvec(8).rows());
        assertEquals("mma_4bit_m4_n4_w8", ProductDispatch.mma(24, 8200).name(""), "17-32 rows of a wide matrix: four feature tiles a warp");
        assertEquals("mma_4bit_m2_n4_w8", ProductDispatch.mma(24, 40).name(""));
        assertEquals("mma_4bit_m1_n1_w8_trio", ProductDispatch.mma(5, 4096).name(ProductDispatch.TRIO));
        assertEquals("matvec_4bit_r1_f8_swiglu_b64", ProductDispatch.matvec(1).name(false, ProductDispatch.Epilogue.SWIGLU, 64));
        assertEquals("matvec_bf16_r8_f4_add", ProductDispatch.matvec(7).name(true, ProductDispatch.Epilogue.ADD, 0));
    }

    @Test
    void everyKernelTheBackendNamesIsInTheFatbin() throws Exception {
        String fatbin;
        try (InputStream in = ProductDispatchTest.class.getResourceAsStream("/ai/convoy/kernels/cuda/convoy.fatbin")) {
            fatbin = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
        List<String> names = CudaBackend.kernelNames();
        assertTrue(names.size() > 50, names.size() + " kernels");
        for (String name : names) {
            assertTrue(fatbin.contains(name + "\0"), name + " is not in the fatbin");
        }
    }

    @Test
    void constantsAreReadFromTheKernelsHeader() {
        Map<String, Integer> numbers = new HashMap<>();
        Map<String, List<int[]>> tables = new HashMap<>();
        KernelConstants.parse("""
                // a comment with #define IN_TEXT 3
                #define THREADS 128
                #define NEGATIVE -2
                #define DERIVED (THREADS * 2)
                #define ROWS_TABLE(X) X(1, 4, 8, 2) X(2,2, 4, 2)
                """, numbers, tables);
        assertEquals(Map.of("THREADS", 128, "NEGATIVE", -2), numbers, "plain numbers only");
        assertEquals(2, tables.get("ROWS_TABLE").size());
        assertEquals(List.of(2, 2, 4, 2), java.util.Arrays.stream(tables.get("ROWS_TABLE").get(1)).boxed().toList());
        assertEquals(ProductDispatch.MATVEC.getLast().rows(), ProductDispatch.MATVEC_MAX_ROWS);
        assertFalse(ProductDispatch.MMA.isEmpty());
    }
}
