// The roots an SEV-SNP verifier pins: per AMD product (Milan, Genoa, Turin) the ARK (AMD Root
// Key, self-signed), the ASK (AMD SEV Key: issues the chip-unique VCEKs) and the ASVK (AMD SEV
// VLEK Key: issues the VLEKs that AMD loads into a cloud provider's chips). AMD's are embedded in
// the binary (roots_pem.cpp); tests and fuzzers pass their own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attest/x509.hpp"
#include "base/error.hpp"

namespace veil::attest::snp {

struct ProductRoots {
  std::string product;  // "Milan", "Genoa", "Turin" (the VCEK's productName, up to a '-')
  x509::Cert ark;
  x509::Cert ask;
  x509::Cert asvk;  // may be null: VLEKs of this product are then refused
};
using Roots = std::vector<ProductRoots>;

// The products AMD's roots are embedded for, in the order they are tried.
inline constexpr const char* kProducts[] = {"Milan", "Genoa", "Turin"};

// The embedded PEM text of a product: ASK, ARK, ASVK in that order; "" for an unknown product.
std::string_view amd_roots_pem(std::string_view product);
// One product's roots from a PEM text holding ASK, ARK and (optionally) ASVK in that order
// (the layout of AMD's KDS cert_chain files and of the embedded text).
Result<ProductRoots> product_roots(std::string product, std::string_view pem);
// AMD's roots for every product in kProducts.
Result<Roots> amd_roots();

}  // namespace veil::attest::snp
