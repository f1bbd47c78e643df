# tfdoctor as a container image, for the Kubernetes examples (docs/examples/k8s-*.yaml) and any node that runs
# containers. Built from this checkout: nothing is installed from a package index under the name tfdoctor.
#
#   docker build -t tfdoctor:0.1.0 .
#   docker run --rm --gpus all tfdoctor:0.1.0 check --no-tf -v
#
# The base is NVIDIA's CUDA "base" image (CUDA runtime only, no TensorFlow): with --gpus all (or the NVIDIA
# container runtime) the driver's libraries and nvidia-smi are mounted in, which is what the probes read. To
# diagnose the TensorFlow of a training image instead, build on it: --build-arg BASE_IMAGE=your/tf-image (it
# needs python3 >= 3.10 with the venv module).
ARG BASE_IMAGE=nvidia/cuda:12.6.3-base-ubuntu24.04
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# python3-venv: Ubuntu 24.04's Python is "externally managed" (PEP 668), so tfdoctor goes into its own venv.
# pciutils (lspci) and kmod (lsmod, modinfo) are tools the probes run.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv pciutils kmod \
    && rm -rf /var/lib/apt/lists/*

COPY . /tmp/tfdoctor-src
RUN python3 -m venv /opt/tfdoctor \
    && /opt/tfdoctor/bin/pip install --no-cache-dir /tmp/tfdoctor-src \
    && rm -rf /tmp/tfdoctor-src \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin tfdoctor

ENV PATH=/opt/tfdoctor/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1
# Non-root: NVML, nvidia-smi, lspci and /proc need no root. What only root may read (the kernel log under
# kernel.dmesg_restrict, Secure Boot state) is reported as unreadable, never guessed (docs/install.md).
USER 10001:10001
ENTRYPOINT ["tfdoctor"]
CMD ["check", "--no-tf"]
