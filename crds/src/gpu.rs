//! The GPU models Quartermaster schedules on, and how Kubernetes nodes
//! carrying them are labelled (by NVIDIA GPU feature discovery).

/// The node label GPU feature discovery sets to the product name.
pub const PRODUCT_LABEL: &str = "nvidia.com/gpu.product";
/// The extended resource of an NVIDIA GPU.
pub const RESOURCE: &str = "nvidia.com/gpu";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuModel {
    /// Our id: in specs, prices and usage events.
    pub id: &'static str,
    /// The value of [`PRODUCT_LABEL`] on nodes that carry it.
    pub product: &'static str,
    pub memory_gib: u32,
}

pub const MODELS: [GpuModel; 3] = [
    GpuModel {
        id: "nvidia-l4",
        product: "NVIDIA-L4",
        memory_gib: 24,
    },
    GpuModel {
        id: "nvidia-a100-80gb",
        product: "NVIDIA-A100-SXM4-80GB",
        memory_gib: 80,
    },
    GpuModel {
        id: "nvidia-h100-80gb",
        product: "NVIDIA-H100-80GB-HBM3",
        memory_gib: 80,
    },
];

pub fn model(id: &str) -> Option<&'static GpuModel> {
    MODELS.iter().find(|m| m.id == id)
}

/// The ids, for error messages.
pub fn known() -> String {
    MODELS.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
}
