"""Published numbers that our reports print beside their own, with where each comes from.

Only numbers whose protocol is stated are here; each entry says which photos
and which model. None of them was measured by us.
"""

# --protocol=imagenet5k: the first 5,000 ImageNet (ILSVRC2012) validation photos at 256 px.
IMAGENET5K = (
    {
        "method": "Zhang et al. 2016 (CIC), released model",
        "source": "re-measured in DDColor (Kang et al., ICCV 2023), Table 1: first 5,000 ImageNet val, "
        "256 px",
        "fid": 8.72,
        "colourfulness": 31.60,
        "delta_cf_set": 6.61,
        "psnr": 22.64,
    },
    {
        "method": "Zhang et al. 2016, released model (OpenVINO colorization-v2)",
        "source": "Open Model Zoo accuracy table: 2,000 ImageNet val photos (not the first 5,000)",
        "psnr": 26.99,
        "ssim": 0.90,
    },
)

# The paper's Table 1 (ECCV 2016): 10,000 ImageNet val photos ("ctest10k"), its own training prior.
PAPER_TABLE1 = (
    {"method": "Ground truth", "auc": 100.0, "auc_rebal": 100.0, "top1": 68.3},
    {"method": "Gray", "auc": 89.1, "auc_rebal": 58.0, "top1": 52.7},
    {"method": "Random", "auc": 84.2, "auc_rebal": 57.3, "top1": 41.0},
    {"method": "Ours (full)", "auc": 89.5, "auc_rebal": 67.3, "top1": 56.0},
)

# A third-party run of the released model on 1,000 ImageNet val photos (cited in issue 12).
THIRD_PARTY_AUC_REBAL = {"Gray": 68.3, "released model": 78.6}
