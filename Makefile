# avkit: small Unix tools for the text-to-video flow, over one core library.
#
#   make                 build the library and every tool (warning-free, -Werror)
#   make check           build, install missing dependencies, run the TAP suite
#   make demo            run the whole flow on the bundled example footage
#   make SANITIZE=1 check   the same suite under AddressSanitizer and UBSan
#   make CUDA=1          also build the CUDA backend with nvcc
#   make golden          regenerate tests/golden/ (needs PyTorch; commit with a reason)
#   make fuzz            run the libFuzzer targets for a short while
#   make install PREFIX=/usr/local
#
# Sources are found by pattern: every lib/*.c goes into the library, every
# tools/av-*.c is a tool, every tests/unit/*.c is a TAP test program.

VERSION  := 0.1.0
PREFIX   ?= /usr/local
CC       := mpicc
NVCC     ?= nvcc
PKGS     := libavformat libavcodec libavutil libswscale libtiff-4 zlib tesseract lept

ifeq ($(SANITIZE),1)
BUILD    ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else
BUILD    ?= build/rel
SANFLAGS :=
OPT      := -O2
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -fopenmp \
            -Iinclude $(PKG_CFLAGS) $(SANFLAGS) -DAVK_VERSION='"$(VERSION)"'
LDFLAGS  += -fopenmp $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -ldnnl -lm -lpthread

ifeq ($(CUDA),1)
CUDA_HOME ?= /usr/local/cuda
CFLAGS   += -DAVK_HAVE_CUDA -I$(CUDA_HOME)/include
LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudart -lcublas
CU_SRC   := $(wildcard lib/cuda/*.cu)
CU_OBJ   := $(patsubst lib/cuda/%.cu,$(BUILD)/lib/cuda/%.o,$(CU_SRC))
endif

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRC)) $(CU_OBJ)
LIB      := $(BUILD)/libavkit.a
TOOL_SRC := $(wildcard tools/av-*.c)
TOOLS    := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOL_SRC))
UNIT_SRC := $(wildcard tests/unit/*.c)
UNITS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
EX_SRC   := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRC))
BENCH_SRC:= $(wildcard bench/*.c)
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
HEADERS  := $(wildcard include/avkit/*.h)

.PHONY: all deps check demo golden fuzz install clean bench man-lint
.DELETE_ON_ERROR:

all: $(TOOLS) $(UNITS) $(EXAMPLES) $(BENCHES)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS) $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/lib/cuda/%.o: lib/cuda/%.cu $(HEADERS)
	@mkdir -p $(@D)
	$(NVCC) -O2 -Iinclude -Xcompiler -fPIC -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: tools/%.c $(LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Install the Debian packages the build and the tests need, if any is missing.
deps:
	@scripts/deps.sh

check: deps
	$(MAKE) all
	AVKIT_BUILD=$(abspath $(BUILD)) prove -j2 --timer tests/

demo: deps
	$(MAKE) all
	$(MAKE) -C examples AVKIT_BUILD=$(abspath $(BUILD))

golden: all
	AVKIT_BUILD=$(abspath $(BUILD)) scripts/golden.sh

bench: all
	AVKIT_BUILD=$(abspath $(BUILD)) scripts/bench.sh

man-lint:
	mandoc -Tlint -Wwarning man/man*/*.[0-9]

FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_SRC)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	for d in man/man*; do \
	    install -d $(DESTDIR)$(PREFIX)/share/$$d && \
	    install -m 644 $$d/*.[0-9] $(DESTDIR)$(PREFIX)/share/$$d/ || exit 1; \
	done

clean:
	rm -rf build
	-$(MAKE) -C examples clean
