#!/usr/bin/python3
"""Build the demo data set bundled in data/demo/ from Debian-packaged sources on this machine.

Sources (install with apt-get if missing):
  dataset-fashion-mnist   /usr/share/datasets/fashion-mnist/*.gz             (image)
  python3-sklearn         sklearn/datasets/data/wine_data.csv                (tabular)
  python3-vega-datasets   vega_datasets/_data/seattle-temps.csv              (time series)
  espeak-ng, sox          spoken keywords, synthesised here                  (audio)
  (none)                  point clouds of primitive shapes, generated here   (point cloud)

Everything is seeded: running it twice gives the same files (espeak-ng/sox versions aside).
Usage: /usr/bin/python3 tools/demo/make-demo-data.py [OUT_DIR]   (default data/demo)
"""
import csv
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'data', 'demo')
FMNIST = '/usr/share/datasets/fashion-mnist'
SKLEARN = '/usr/lib/python3/dist-packages/sklearn/datasets/data'
VEGA = '/usr/lib/python3/dist-packages/vega_datasets/_data'

FMNIST_TRAIN, FMNIST_TEST = 2000, 500
WORDS = ['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go']
# espeak-ng voices: the first five speak the training clips, the last two only the test clips (unseen voices)
TRAIN_VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-029', 'en-gb-x-rp']
TEST_VOICES = ['en-gb-x-gbclan', 'en-gb-x-gbcwmd']
SPEEDS = [120, 150, 180, 210]
PITCHES = [25, 45, 65, 85]
CLIP_SECONDS = 0.8
RATE = 16000
SHAPES = ['sphere', 'cube', 'cylinder', 'cone', 'torus', 'pyramid', 'plane', 'capsule']
SHAPES_TRAIN, SHAPES_TEST, POINTS = 40, 12, 256


def need(path, package):
    if not os.path.exists(path):
        sys.exit(f'make-demo-data: {path} is missing; install it with: sudo apt-get install -y {package}')


def read_idx_gz(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    ndim = b[3]
    shape = struct.unpack('>' + 'I' * ndim, b[4:4 + 4 * ndim])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_idx_gz(path, a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    head = bytes([0, 0, 0x08, a.ndim]) + struct.pack('>' + 'I' * a.ndim, *a.shape)
    with open(path, 'wb') as raw:  # mtime 0: reproducible bytes
        with gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=9, mtime=0) as f:
            f.write(head + a.tobytes())


def stratified_subset(labels, n, rng):
    classes = np.unique(labels)
    per = n // len(classes)
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), per, replace=False) for c in classes])
    return np.sort(idx)


def fashion_mnist(rng):
    out = os.path.join(OUT, 'fashion-mnist')
    os.makedirs(out, exist_ok=True)
    for split, n, prefix in [('train', FMNIST_TRAIN, 'train'), ('test', FMNIST_TEST, 't10k')]:
        img_path = os.path.join(FMNIST, f'{prefix}-images-idx3-ubyte.gz')
        need(img_path, 'dataset-fashion-mnist')
        images = read_idx_gz(img_path)
        labels = read_idx_gz(os.path.join(FMNIST, f'{prefix}-labels-idx1-ubyte.gz'))
        idx = stratified_subset(labels, n, rng)
        write_idx_gz(os.path.join(out, f'{split}-images-idx3-ubyte.gz'), images[idx])
        write_idx_gz(os.path.join(out, f'{split}-labels-idx1-ubyte.gz'), labels[idx])


def wine(rng):
    src = os.path.join(SKLEARN, 'wine_data.csv')
    need(src, 'python3-sklearn')
    names = ['alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids',
             'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue', 'od280_od315', 'proline']
    with open(src) as f:
        rows = list(csv.reader(f))[1:]
    labels = np.array([int(r[-1]) for r in rows])
    test = set()
    for c in np.unique(labels):  # stratified 25 % test split
        m = np.flatnonzero(labels == c)
        test.update(rng.choice(m, int(round(len(m) * 0.25)), replace=False).tolist())
    out = os.path.join(OUT, 'wine')
    os.makedirs(out, exist_ok=True)
    for split in ['train', 'test']:
        with open(os.path.join(out, f'{split}.csv'), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(names + ['cultivar'])
            for i, r in enumerate(rows):
                if (i in test) == (split == 'test'):
                    w.writerow(r[:-1] + [f'class_{r[-1]}'])


def seattle():
    src = os.path.join(VEGA, 'seattle-temps.csv')
    need(src, 'python3-vega-datasets')
    out = os.path.join(OUT, 'seattle-temps')
    os.makedirs(out, exist_ok=True)
    with open(src) as f, open(os.path.join(out, 'seattle-temps.csv'), 'w', newline='') as g:
        r = csv.reader(f)
        header = next(r)
        w = csv.writer(g)
        w.writerow(['date', 'temp'])
        assert header == ['date', 'temp'], header
        for row in r:
            w.writerow([row[0].replace('/', '-'), row[1]])


def read_float_wav(path):
    # sox writes WAVE_FORMAT_EXTENSIBLE/float; parse chunks by hand
    b = open(path, 'rb').read()
    pos = 12
    while pos < len(b):
        cid, size = b[pos:pos + 4], struct.unpack('<I', b[pos + 4:pos + 8])[0]
        if cid == b'data':
            return np.frombuffer(b[pos + 8:pos + 8 + size], dtype='<f4').astype(np.float64)
        pos += 8 + size + (size & 1)
    raise ValueError(f'{path}: no data chunk')


def write_u8_wav(path, x):
    u8 = np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8)
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(RATE)
        w.writeframes(u8.tobytes())


def keywords(rng):
    for tool, pkg in [('espeak-ng', 'espeak-ng'), ('sox', 'sox')]:
        if not shutil.which(tool):
            sys.exit(f'make-demo-data: {tool} is missing; install it with: sudo apt-get install -y {pkg}')
    out = os.path.join(OUT, 'keywords')
    L = int(RATE * CLIP_SECONDS)
    combos = [(s, p) for s in SPEEDS for p in PITCHES]
    with tempfile.TemporaryDirectory() as tmp:
        for split, voices, per_voice in [('train', TRAIN_VOICES, 4), ('test', TEST_VOICES, 3)]:
            for word in WORDS:
                d = os.path.join(out, split, word)
                os.makedirs(d, exist_ok=True)
                for voice in voices:
                    for k in rng.choice(len(combos), per_voice, replace=False):
                        speed, pitch = combos[k]
                        raw = os.path.join(tmp, 'raw.wav')
                        res = os.path.join(tmp, 'res.wav')
                        subprocess.run(['espeak-ng', '-v', voice, '-s', str(speed), '-p', str(pitch), '-w', raw, word], check=True)
                        subprocess.run(['sox', raw, '-r', str(RATE), '-c', '1', '-e', 'floating-point', '-b', '32', res,
                                        'silence', '1', '0.01', '1%', 'reverse', 'silence', '1', '0.01', '1%', 'reverse'], check=True)
                        x = read_float_wav(res)
                        x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.3, 0.9)
                        x = x[:L]
                        clip = np.zeros(L)
                        start = rng.integers(0, L - len(x) + 1)
                        clip[start:start + len(x)] = x
                        snr_db = rng.uniform(10, 30)  # white noise at a random SNR
                        p = np.mean(x ** 2) + 1e-12
                        clip += rng.normal(0, np.sqrt(p / 10 ** (snr_db / 10)), L)
                        write_u8_wav(os.path.join(d, f'{voice}_s{speed}_p{pitch}.wav'), np.clip(clip, -1, 127 / 128))


def rotation(rng):
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a*a+b*b-c*c-d*d, 2*(b*c-a*d), 2*(b*d+a*c)],
                     [2*(b*c+a*d), a*a-b*b+c*c-d*d, 2*(c*d-a*b)],
                     [2*(b*d-a*c), 2*(c*d+a*b), a*a-b*b-c*c+d*d]])


def surface(shape, n, rng):
    u, v = rng.uniform(size=n), rng.uniform(size=n)
    if shape == 'sphere':
        z = 2 * u - 1; t = 2 * np.pi * v; r = np.sqrt(1 - z * z)
        return np.stack([r * np.cos(t), r * np.sin(t), z], 1)
    if shape == 'cube':
        face = rng.integers(0, 6, n); p = rng.uniform(-1, 1, (n, 3))
        p[np.arange(n), face % 3] = np.where(face < 3, -1.0, 1.0)
        return p
    if shape == 'cylinder':
        t = 2 * np.pi * u
        return np.stack([np.cos(t), np.sin(t), 2 * v - 1], 1)
    if shape == 'cone':
        h = np.sqrt(v); t = 2 * np.pi * u  # uniform on the lateral surface
        return np.stack([h * np.cos(t), h * np.sin(t), 1 - 2 * h], 1)
    if shape == 'torus':
        t, p = 2 * np.pi * u, 2 * np.pi * v
        return np.stack([(1 + 0.4 * np.cos(p)) * np.cos(t), (1 + 0.4 * np.cos(p)) * np.sin(t), 0.4 * np.sin(p)], 1)
    if shape == 'pyramid':  # square pyramid, four triangular sides
        base = np.array([[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1]], float)
        apex = np.array([0, 0, 1.0]); k = rng.integers(0, 4, n)
        a, b = base[k], base[(k + 1) % 4]
        s = np.sqrt(u)[:, None]; w = v[:, None]
        return (1 - s) * apex + s * ((1 - w) * a + w * b)
    if shape == 'plane':
        return np.stack([2 * u - 1, 2 * v - 1, np.zeros(n)], 1)
    if shape == 'capsule':  # cylinder with hemispherical caps
        p = surface('sphere', n, rng) * 0.6
        p[:, 2] += np.where(p[:, 2] >= 0, 0.6, -0.6)
        return p
    raise ValueError(shape)


def point_clouds(rng):
    out = os.path.join(OUT, 'shapes')
    for split, per in [('train', SHAPES_TRAIN), ('test', SHAPES_TEST)]:
        clouds, labels = [], []
        for k, shape in enumerate(SHAPES):
            for _ in range(per):
                p = surface(shape, POINTS, rng)
                p *= rng.uniform(0.6, 1.4, 3)           # anisotropic scale
                p = p @ rotation(rng).T                 # random pose
                p += rng.normal(0, rng.uniform(0.005, 0.03), p.shape)  # sensor noise
                p -= p.mean(0); p /= np.abs(p).max()    # centre, unit box
                clouds.append(p); labels.append(shape)
        order = rng.permutation(len(labels))
        d = os.path.join(out, split)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, 'inputs.npy'), np.stack(clouds)[order].astype(np.float16))
        with open(os.path.join(d, 'labels.json'), 'w') as f:
            json.dump([labels[i] for i in order], f)


def main():
    rng = np.random.default_rng(20261122)
    os.makedirs(OUT, exist_ok=True)
    fashion_mnist(rng)
    wine(rng)
    seattle()
    point_clouds(rng)
    keywords(rng)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f'wrote {OUT}: {total / 1e6:.2f} MB')


if __name__ == '__main__':
    main()
