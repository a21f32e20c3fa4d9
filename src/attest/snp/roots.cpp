#include "attest/snp/roots.hpp"

namespace veil::attest::snp {

Result<ProductRoots> product_roots(std::string product, std::string_view pem) {
  auto certs = x509::from_pem(pem);
  if (!certs) return std::unexpected(certs.error().wrap("root: " + product));
  if (certs->size() < 2 || certs->size() > 3)
    return fail("root: " + product + ": expected ASK, ARK and ASVK, got " +
                std::to_string(certs->size()) + " certificates");
  ProductRoots r{std::move(product), std::move((*certs)[1]), std::move((*certs)[0]), nullptr};
  if (certs->size() == 3) r.asvk = std::move((*certs)[2]);
  return r;
}

Result<Roots> amd_roots() {
  Roots roots;
  for (const char* p : kProducts) roots.push_back(VEIL_TRY(product_roots(p, amd_roots_pem(p))));
  return roots;
}

}  // namespace veil::attest::snp
