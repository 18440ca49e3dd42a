// GraphQL sandbox: written with the sandbox page.
